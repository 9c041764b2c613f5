import Glibc
import HostOps
import MeshCapture
import Verify

struct Doctor: Subcommand {
    static let spec = CommandSpec(
        name: "doctor",
        abstract: "Check a VM before and after joining the mesh: each check PASS, WARN or FAIL with its fix (exit 1 on a FAIL).",
        discussion: """
            Privileges; kernel support for what the rules need (loaded in a throwaway network namespace, \
            never into the host's tables); capture rules in more than one place; the proxy user and PROXY_UID; \
            the control-plane names through the VM's hosts file and resolvers, saying when a name answers only \
            with a search domain appended; SSH captured inbound (a lock-out); the capture ports listening; \
            the live rules against the config, and their counters. Reads, never changes, the host.
              meshcap doctor --config /var/lib/istio/envoy/sidecar.env --config /var/lib/istio/envoy/cluster.env
              meshcap doctor --config cluster.env --control-plane istiod.istio-system.svc --json
            """,
        options: ConfigOptions.options + HostOptions.options + [
            OptionSpec("json", help: "Print the checks as JSON (schema meshcap.doctor/v1)."),
            OptionSpec("hosts", .single(name: "file", completion: .file), help: "The hosts file names are looked up in first. Default: /etc/hosts."),
            OptionSpec("control-plane", .repeated(name: "name", completion: .none),
                       help: "A name the VM must resolve (repeatable). Default: istiod.istio-system.svc and the hosts of CA_ADDR and PILOT_ADDRESS in the config files."),
            OptionSpec("sshd-config", .single(name: "file", completion: .file), help: "Where sshd's Port lines are read, besides port 22. Default: /etc/ssh/sshd_config."),
        ],
        operands: ConfigOptions.operands)

    let config: ConfigOptions
    let host: HostOptions
    let json: Bool
    let hosts: String
    let controlPlane: [String]
    let sshdConfig: String
    /// Whether --hosts and --sshd-config were given: a default that does not exist is no file.
    let hostsGiven: Bool, sshdConfigGiven: Bool

    init(_ arguments: Arguments) throws {
        config = try ConfigOptions(arguments)
        host = try HostOptions(arguments)
        json = arguments.flag("json")
        let givenHosts: String? = try arguments.value("hosts")
        let givenSshdConfig: String? = try arguments.value("sshd-config")
        hosts = givenHosts ?? "/etc/hosts"
        hostsGiven = givenHosts != nil
        controlPlane = arguments.all("control-plane")
        sshdConfig = givenSshdConfig ?? SSHPorts.defaultConfig
        sshdConfigGiven = givenSshdConfig != nil
    }

    func run() throws {
        let (loaded, accounts) = try config.load()
        try host.enterNamespace(loaded.run)
        let plan = CapturePlan(loaded.config)
        let settings = loaded.values
        var checks = [configCheck(plan), privileges()]
        let privileged = checks.last?.status == .pass
        let residue = privileged ? host.site.residue() : nil
        let backend = try residue.map { try host.choose(loaded.run, residue: $0) }
        checks += kernel(plan, chosen: backend?.host.name, privileged: privileged)
        checks.append(istioStartScript(settings))
        checks.append(proxyUser(plan, accounts: accounts, envoyUser: settings["ENVOY_USER"]))
        checks += ssh(plan)
        checks += names(settings, plan: plan, accounts: accounts)
        checks.append(rules(residue, plan))
        if privileged, let interrupted = host.site.journal().intent() {
            let verb = interrupted.operation == .clean ? "clean" : "apply"
            checks.append(PreflightCheck("journal", .fail, "\(interrupted) did not end (killed, or still running): the rules may be half changed",
                                         fix: "meshcap \(verb) completes it (with no config: the config it was putting in force)"))
        }
        let present = residue.map { !$0.nftTables.isEmpty || !$0.iptables.isEmpty } ?? false
        checks += capturePorts(plan, rulesPresent: present)
        if let backend, present {
            checks.append(counters(plan, accounts: accounts, firewall: backend.host, residue: residue!))
        }
        if let iptables = backend?.host as? IptablesHost { checks.append(reader(iptables)) }
        let report = PreflightReport(checks)
        print(json ? report.json : report.text, terminator: "")
        if report.failed { throw ProblemFound() }
    }

    /// The config part of the commands the fixes name: the files and host files doctor was given,
    /// so a fix run as written reads what doctor read.
    var command: String {
        let files = config.files.isEmpty ? ["/var/lib/istio/envoy/sidecar.env", "/var/lib/istio/envoy/cluster.env"] : config.files
        var words = files.map { "--config \($0)" }
        if config.passwdFile != AccountDatabase.defaultPasswdPath { words.append("--passwd-file \(config.passwdFile)") }
        if config.groupFile != AccountDatabase.defaultGroupPath { words.append("--group-file \(config.groupFile)") }
        if config.resolvConf != ResolvConf.defaultPath { words.append("--resolv-conf \(config.resolvConf)") }
        // A fix run without the namespace doctor looked at would change the caller's (a
        // NETWORK_NAMESPACE in the files or the environment comes along by itself).
        if let namespace = host.netns { words.insert("--netns \(namespace)", at: 0) }
        return (words + config.istioFlags).joined(separator: " ")
    }

    /// Where verify reads this host's iptables rules from: the kernel, or (for an entry the
    /// decoder does not print exactly) the save tool, and which entry sent it there.
    func reader(_ host: IptablesHost) -> PreflightCheck {
        let save = host.variant.tool(.ipv4, "save")
        var refused: [String] = []
        for family in Family.allCases {
            do {
                if case .failure(let why) = try host.kernelReading(family) { refused.append(why.reason) }
            } catch {
                refused.append("\(family.label): \((error as? Failure)?.lines.joined(separator: "; ") ?? "\(error)")")
            }
        }
        guard !refused.isEmpty else { return PreflightCheck("reader", .pass, "\(host.name)'s rules are read from the kernel, as \(save) -c would print them") }
        return PreflightCheck("reader", .pass, "\(host.name)'s rules are read with \(save) -c, slower: \(refused.joined(separator: "; ")) (an entry meshcap does not print exactly is never guessed)")
    }

    /// Istio's VM start script programs its own rules (istio-iptables) unless cluster.env says
    /// ISTIO_CUSTOM_IP_TABLES=true; with meshcap's as well, connections are captured twice.
    func istioStartScript(_ settings: [String: String]) -> PreflightCheck {
        if settings["ISTIO_CUSTOM_IP_TABLES"] == "true" {
            return PreflightCheck("istio start", .pass, "ISTIO_CUSTOM_IP_TABLES=true: Istio's start script leaves the rules to meshcap")
        }
        return PreflightCheck("istio start", .warn, "ISTIO_CUSTOM_IP_TABLES is not true: Istio's start script (istio.service) will program its own rules as well, and connections are captured twice",
                              fix: "add ISTIO_CUSTOM_IP_TABLES='true' to cluster.env")
    }

    func configCheck(_ plan: CapturePlan) -> PreflightCheck {
        guard config.given else {
            return PreflightCheck("config", .warn, "none given: the checks below assume Istio's defaults",
                                  fix: "give the VM's files: meshcap doctor \(command)")
        }
        let read = config.files.isEmpty ? "istio-iptables flags" : config.files.joined(separator: ", ")
        guard !plan.config.capturesNothing else {
            return PreflightCheck("config", .fail, "\(read): sends nothing to the proxy (\(InterceptConfig.captureKeys) are all empty or off), and apply refuses it",
                                  fix: "give cluster.env as istioctl wrote it (ISTIO_SERVICE_CIDR, ISTIO_INBOUND_PORTS)")
        }
        return PreflightCheck("config", .pass, read)
    }

    /// Root is not enough: a container's root, or a unit with a narrow bounding set, may lack
    /// CAP_NET_ADMIN (bit 12 of the effective set), and then every read of the rules fails.
    func privileges() -> PreflightCheck {
        switch (geteuid() == 0, SelfProcess.hasNetAdmin) {
        case (true, true):
            return PreflightCheck("privileges", .pass, "root, with CAP_NET_ADMIN")
        case (false, true):
            return PreflightCheck("privileges", .warn, "CAP_NET_ADMIN without root: rules can be read and applied, but the kernel is not probed here",
                                  fix: "run doctor as root for the kernel checks")
        case (true, false):
            return PreflightCheck("privileges", .fail, "root without CAP_NET_ADMIN (a container, or a unit's bounding set): meshcap cannot read or apply rules",
                                  fix: "run it where root has CAP_NET_ADMIN (docker run --cap-add NET_ADMIN, or CapabilityBoundingSet= in the unit)")
        case (false, false):
            return PreflightCheck("privileges", .fail, "neither root nor CAP_NET_ADMIN: meshcap cannot read or apply rules",
                                  fix: "sudo meshcap doctor \(command)")
        }
    }

    /// Each feature loaded with each installed backend in a namespace made for it. A failure of
    /// what this config needs, with the backend apply would use, is a FAIL; anything else a WARN.
    func kernel(_ plan: CapturePlan, chosen: String?, privileged: Bool) -> [PreflightCheck] {
        guard privileged, geteuid() == 0 else {
            return [PreflightCheck("kernel", .warn, "not probed: making a network namespace to probe in needs root", fix: "run doctor as root")]
        }
        let result: CommandResult
        do {
            result = try SelfProcess.run(["kernel-probe"])
        } catch {
            return [PreflightCheck("kernel", .fail, "the probe did not run: \(error.description)", fix: "run doctor as root, where network namespaces can be made")]
        }
        guard result.status == 0 else {
            return [PreflightCheck("kernel", .fail, "the probe failed: \(result.stderr.split(separator: "\n").joined(separator: "; "))",
                                   fix: "unshare(CLONE_NEWNET) must work: not in a container without CAP_SYS_ADMIN")]
        }
        let attempts = result.stdout.split(separator: "\n").map { $0.split(separator: "\t", maxSplits: 2).map(String.init) }.filter { $0.count == 3 }
        return KernelFeature.allCases.map { feature in
            let tried = attempts.filter { $0[0] == feature.rawValue }
            let failed = tried.filter { $0[2] != "ok" }
            let backends = tried.map { $0[1] }.joined(separator: ", ")
            guard !failed.isEmpty else { return PreflightCheck("kernel", .pass, "\(feature.title): loads with \(backends)") }
            let needed = switch feature {
            case .redirect: true
            case .tproxy: plan.config.interceptionMode == .tproxy
            case .zones: plan.config.capturesDNS
            }
            // The probe's iptables-restore shares the host's xtables lock: a busy lock says
            // nothing about the kernel.
            if failed.allSatisfy({ $0[2].contains("xtables lock") }) {
                return PreflightCheck("kernel", .warn, "\(feature.title): not probed with \(failed.map { $0[1] }.joined(separator: ", ")): another program held the xtables lock",
                                      fix: "run doctor again")
            }
            let serious = needed && failed.contains { $0[1] == chosen }
            let detail = failed.map { "\($0[1]): \($0[2])" }.joined(separator: "; ")
            let worked = tried.filter { $0[2] == "ok" }.map { $0[1] }
            return PreflightCheck("kernel", serious ? .fail : .warn,
                                  "\(feature.title)\(needed ? "" : " (this config does not use it)"): \(detail)" + (worked.isEmpty ? "" : "; loads with \(worked.joined(separator: ", "))"),
                                  fix: "modprobe \(Set(failed.map { feature.modules($0[1]) }).sorted().joined(separator: " ")) (or a kernel built with them)")
        }
    }

    func proxyUser(_ plan: CapturePlan, accounts: AccountDatabase, envoyUser: String?) -> PreflightCheck {
        let user = envoyUser.flatMap { $0.isEmpty ? nil : $0 } ?? "istio-proxy"
        let passed = plan.config.proxyUsers.compactMap { $0.id(isGroup: false, resolve: accounts.id) }
        let list = passed.map(String.init).joined(separator: ",")
        guard let uid = accounts.id(of: user, isGroup: false) else {
            return PreflightCheck("proxy user", .fail, "no user \(user) (ENVOY_USER) in \(accounts.passwdPath); the rules let UID \(list) through",
                                  fix: "install Istio's sidecar package (it makes istio-proxy), or set ENVOY_USER to the user Envoy runs as")
        }
        guard passed.contains(uid) else {
            return PreflightCheck("proxy user", .fail, "\(user) is UID \(uid), but the rules let UID \(list) through: Envoy's own connections would be captured again (a loop)",
                                  fix: "set PROXY_UID=\(uid), or leave PROXY_UID unset so meshcap takes \(user)'s UID")
        }
        return PreflightCheck("proxy user", .pass, "\(user) is UID \(uid), which the rules let through")
    }

    func ssh(_ plan: CapturePlan) -> [PreflightCheck] {
        let ssh = SSHPorts(config: sshdConfig, given: sshdConfigGiven)
        let lockOuts = ssh.lockOuts(plan)
        return ssh.unread.map {
            PreflightCheck("ssh", .warn, "\($0): the SSH ports it sets are not checked",
                           fix: "make it readable, or give --sshd-config the file sshd reads (sshd -T lists the ports it listens on)")
        } + ssh.ports.map { port in
            lockOuts.first { $0.port == port }.map { PreflightCheck("ssh", .warn, $0.sentence, fix: $0.fix) }
                ?? PreflightCheck("ssh", .pass, "port \(port) (SSH) is not captured inbound")
        }
    }

    func names(_ settings: [String: String], plan: CapturePlan, accounts: AccountDatabase) -> [PreflightCheck] {
        var names = controlPlane
        if names.isEmpty {
            names = Self.controlPlaneNames(settings)
            // Istio's default, when no file names another (a revision's istiod-rev-1... is checked instead).
            if names.isEmpty { names = ["istiod.istio-system.svc"] }
        }
        // The hosts file answers before any resolver: unread, no name's outcome can be told.
        let hostsFile: InputText?
        do {
            hostsFile = try InputFile.read(hosts, role: "hosts file", given: hostsGiven)
        } catch {
            return [PreflightCheck("control plane", .fail, "\(error.description): the names are not checked",
                                   fix: "give --hosts the VM's hosts file, a regular file of at most \(InputFile.sizeLimit / 1024 / 1024) MiB")]
        }
        let outcomes: [NameLookup.Outcome]
        do {
            outcomes = try resolve(names, as: plan, accounts: accounts, hosts: hostsFile != nil)
        } catch {
            return [PreflightCheck("control plane", .fail, "names not checked: \((error as? Failure)?.lines.joined(separator: "; ") ?? "\(error)")",
                                   fix: "the VM needs a readable resolv.conf with its VPC's resolver")]
        }
        return zip(names, outcomes).map { name, outcome in
            switch outcome {
            case .hostsFile(let addresses):
                return PreflightCheck("control plane", .pass, "\(name): \(Self.list(addresses)) from \(hosts)")
            case .direct(let addresses, let server):
                return PreflightCheck("control plane", .pass, "\(name): \(Self.list(addresses)) from nameserver \(server)")
            case .throughSearch(let full, let addresses, let server):
                let domain = full.dropFirst(name.count + 1)
                return PreflightCheck("control plane", .warn,
                    "\(name) resolves only as \(full) (search domain \(domain) in \(config.resolvConf)), to \(Self.list(addresses)) from \(server): a resolver that does not search, or a DHCP lease that rewrites resolv.conf (AWS does), loses it",
                    fix: "add '\(addresses[0]) \(name)' to \(hosts) (istioctl's VM files include a hosts file for this), or make \(name) resolve as written (e.g. a Route53 private zone)")
            case .unresolved(let why):
                return PreflightCheck("control plane", .fail, "\(name) does not resolve: \(why.joined(separator: "; "))",
                                      fix: "append the hosts file istioctl wrote for the VM to \(hosts) (it maps \(name) to the east-west gateway)")
            }
        }
    }

    /// The control plane's names as the VM's files give them, in the agent's order of use: the
    /// CA (CA_ADDR), discovery (PILOT_ADDRESS, ISTIO_META_DISCOVERY_ADDRESS, and PROXY_CONFIG's
    /// discoveryAddress, YAML or JSON). Each "host:port", "[v6]:port" or bare host; addresses are
    /// left out (they need no name resolved).
    static func controlPlaneNames(_ settings: [String: String]) -> [String] {
        var addresses = ["CA_ADDR", "PILOT_ADDRESS", "ISTIO_META_DISCOVERY_ADDRESS"].compactMap { settings[$0] }
        if let proxyConfig = settings["PROXY_CONFIG"], let key = proxyConfig.firstRange(of: "discoveryAddress") {
            // discoveryAddress: istiod.istio-system.svc:15012   or   "discoveryAddress":"..."
            let quoteOrBlank: (Character) -> Bool = { $0 == "\"" || $0 == "'" || $0 == " " }
            let rest = proxyConfig[key.upperBound...].drop(while: quoteOrBlank)
            if rest.first == ":" {
                let value = rest.dropFirst().drop(while: quoteOrBlank).prefix { !" \"',}\n".contains($0) }
                addresses.append(String(value))
            }
        }
        var names: [String] = []
        for var address in addresses where !address.isEmpty {
            if address.hasPrefix("[") { address = String(address.dropFirst().prefix { $0 != "]" }) }
            else if address.count(where: { $0 == ":" }) == 1 { address = String(address.prefix { $0 != ":" }) }
            if IPAddress(address) == nil, !names.contains(address) { names.append(address) }
        }
        return names
    }

    /// As the proxy's user, in a child (see `ResolveNames`), when doctor runs as root; with the
    /// hosts file when there is one.
    func resolve(_ names: [String], as plan: CapturePlan, accounts: AccountDatabase, hosts read: Bool) throws -> [NameLookup.Outcome] {
        var arguments = ["resolve-names", "--resolv-conf", config.resolvConf] + (read ? ["--hosts", hosts] : [])
        if geteuid() == 0 {
            if let uid = plan.config.proxyUsers.lazy.compactMap({ $0.id(isGroup: false, resolve: accounts.id) }).first { arguments += ["--uid", String(uid)] }
            if let gid = plan.config.proxyGroups.lazy.compactMap({ $0.id(isGroup: true, resolve: accounts.id) }).first { arguments += ["--gid", String(gid)] }
        }
        let result = try SelfProcess.run(arguments + ["--"] + names)
        guard result.status == 0 else { throw HostError(result.stderr.split(separator: "\n").joined(separator: "; ")) }
        let outcomes = result.stdout.split(separator: "\n").compactMap { NameLookup.Outcome(line: $0) }
        guard outcomes.count == names.count else { throw HostError("the name check printed \(outcomes.count) answers for \(names.count) names") }
        return outcomes
    }

    /// The paths a shell pattern names, sorted (sshd's Include expands it with glob(3)).
    static func list(_ addresses: [IPAddress]) -> String { addresses.map(\.description).joined(separator: ", ") }

    func rules(_ residue: Residue?, _ plan: CapturePlan) -> PreflightCheck {
        guard let residue else { return PreflightCheck("rules", .warn, "not read: needs root", fix: "run doctor as root") }
        var places = residue.nftTables.isEmpty ? [] : ["nft (\(residue.nftTables.joined(separator: ", ")))"]
        for variant in IptablesVariant.allCases { if let families = residue.iptables[variant] {
            places.append("iptables-\(variant.rawValue) (\(families.map(\.rawValue).joined(separator: ", ")))")
        } }
        switch places.count {
        case 0:
            // An apply of a config that captures nothing is refused: the config check says what to give.
            return PreflightCheck("rules", .warn, "no capture rules on this host yet",
                                  fix: plan.config.capturesNothing ? "give the config that captures (see the config check), then meshcap apply" : "meshcap apply \(command)")
        case 1: return PreflightCheck("rules", .pass, "capture rules in \(places[0]) only")
        default:
            return PreflightCheck("rules", .fail, "capture rules in \(places.joined(separator: " and ")): packets are captured by whichever hook runs first, and counted apart",
                                  fix: "keep one: meshcap clean --backend iptables --iptables-variant legacy (or nft), then meshcap verify")
        }
    }

    func capturePorts(_ plan: CapturePlan, rulesPresent: Bool) -> [PreflightCheck] {
        let listening: Set<Port>
        do {
            listening = try ListeningSockets.tcpPorts()
        } catch {
            return [PreflightCheck("capture port", .warn, "not checked: \(error.description)", fix: "run doctor where /proc is mounted")]
        }
        var ports: [(Port, String)] = [(plan.config.proxyPort, "outbound")]
        if !plan.config.inboundPorts.isNone { ports.append((plan.config.inboundCapturePort, "inbound")) }
        if plan.config.capturesDNS { ports.append((Istio.agentDNSPort, "DNS")) }
        return ports.map { port, role in
            if listening.contains(port) { return PreflightCheck("capture port", .pass, "\(port) (\(role)) is listening") }
            return rulesPresent
                ? PreflightCheck("capture port", .fail, "nothing listens on \(port) (\(role)), and the rules send connections there: they are refused",
                                 fix: "start the sidecar (systemctl start istio), or remove the capture until it runs (meshcap clean)")
                : PreflightCheck("capture port", .warn, "nothing listens on \(port) (\(role)) yet", fix: "start the sidecar after meshcap apply (systemctl start istio)")
        }
    }

    func counters(_ plan: CapturePlan, accounts: AccountDatabase, firewall: any FirewallHost, residue: Residue) -> PreflightCheck {
        let live: Observation
        do {
            live = try firewall.observation()
        } catch {
            return PreflightCheck("counters", .fail, "cannot read the rules: \((error as? Failure)?.lines.joined(separator: "; ") ?? "\(error)")", fix: "run doctor as root")
        }
        let reading = CounterReading(source: firewall.name, dialect: firewall.dialect, rules: live.rules, chains: live.chains, ahead: live.ahead,
                                     elsewhere: residue.elsewhere(than: firewall.name))
        let report = VerifyReport(reading, desired: config.given ? plan.desired(accounts, in: firewall.dialect) : nil)
        guard report.healthy else {
            return PreflightCheck("counters", .fail, report.verdicts.map { "\($0.kind.rawValue): \($0.message)" }.joined(separator: "; "),
                                  fix: "meshcap verify \(command) for the rows; meshcap apply \(command) puts the config's rules back")
        }
        let captured = report.totals.map { "\($0.captured) \($0.direction.rawValue)" }.joined(separator: " and ")
        guard report.totals.contains(where: { $0.captured > 0 }) else {
            return PreflightCheck("counters", .warn, "the rules (\(firewall.name)) are \(config.given ? "the config's" : "meshcap's"), but no connection has been sent to the proxy yet",
                                  fix: "make a request to a mesh service from the VM, then meshcap verify")
        }
        return PreflightCheck("counters", .pass, "the rules (\(firewall.name)) are \(config.given ? "the config's" : "meshcap's"); sent to the proxy: \(captured)")
    }
}
