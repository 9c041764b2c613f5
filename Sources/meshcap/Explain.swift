import HostOps
import IptablesBackend
import MeshCapture
import NftablesBackend
import Verify

extension Connection.Direction: ArgumentValue {}
extension L4Protocol: ArgumentValue {}

struct Explain: Subcommand {
    static let spec = CommandSpec(
        name: "explain",
        abstract: "Which rules a connection's first packet meets and where it ends up: from the config (no root needed), or --live.",
        discussion: """
            Walks the compiled rules as netfilter does: the hook's chains in priority order (raw, mangle, \
            nat), each chain's rules in order, jumps and returns, the first match's verdict, marks and \
            conntrack zones. Prints each chain entered, the rule that matched in the backend's own syntax, \
            and the outcome: redirected to a port, TPROXY, untouched, dropped.
              meshcap explain --config cluster.env --direction outbound --dst 10.96.0.10:80 --uid 1000
              meshcap explain --config cluster.env --direction inbound --dst 10.0.12.34:22 --src 10.0.0.9
              meshcap explain -i '*' --direction outbound --dst [fd00::1]:443 --ipv6 --json
              meshcap explain --live --direction outbound --dst 10.96.0.10:80 --uid 1000   # as root, the host's rules
            """,
        options: ConfigOptions.options + HostOptions.options + [
            OptionSpec("direction", .single(name: "direction", completion: .words(Connection.Direction.choices)),
                       help: "outbound (made on this host: OUTPUT) or inbound (arriving: PREROUTING); required."),
            OptionSpec("dst", .single(name: "address:port", completion: .none), help: "The destination: ADDRESS:PORT, or [IPV6]:PORT; required."),
            OptionSpec("src", .single(name: "address[:port]", completion: .none),
                       help: "The source address, with :PORT if it matters (DNS rules test port 53). Unknown by default: taken as absent, and named when a rule on the path tests it."),
            OptionSpec("uid", .single(name: "uid", completion: .none), help: "Outbound: the socket owner's UID, or a user name from --passwd-file."),
            OptionSpec("gid", .single(name: "gid", completion: .none), help: "Outbound: the socket owner's GID, or a group name from --group-file."),
            OptionSpec("proto", .single(name: "proto", completion: .words(L4Protocol.choices)), help: "tcp or udp. Default: tcp."),
            OptionSpec("iface", .single(name: "name", completion: .none),
                       help: "The output interface (outbound) or input interface (inbound); lo for a loopback destination when not given."),
            OptionSpec("live", help: "Walk the rules live on this host (root), read back with their owners, instead of the config's: --backend and --iptables-variant choose as for verify."),
            OptionSpec("json", help: "Print the path as JSON (schema meshcap.explain/v1), ending in {\"outcome\": {\"verdict\", \"port\"}}."),
        ],
        operands: ConfigOptions.operands)

    let config: ConfigOptions
    let host: HostOptions
    let direction: Connection.Direction
    let dst: String
    let src: String?
    let uid: String?
    let gid: String?
    let proto: L4Protocol
    let iface: String?
    let live: Bool
    let json: Bool

    init(_ arguments: Arguments) throws {
        config = try ConfigOptions(arguments)
        host = try HostOptions(arguments)
        direction = try arguments.required("direction", of: Self.spec)
        dst = try arguments.required("dst", of: Self.spec)
        src = try arguments.value("src")
        uid = try arguments.value("uid")
        gid = try arguments.value("gid")
        proto = try arguments.value("proto") ?? .tcp
        iface = try arguments.value("iface")
        live = arguments.flag("live")
        json = arguments.flag("json")
    }

    func run() throws {
        guard let (destination, portText) = Self.endpoint(dst) else {
            throw ConfigError(origin: .flag("--dst"), message: "\(dst) is no destination; allowed: ADDRESS:PORT or [IPV6]:PORT")
        }
        let port = try Self.checked("--dst", dst) { try Values.port(portText, allowed: Self.portAllowed) }
        if case .v6(let value) = destination, value >> 32 == 0xffff {
            throw ConfigError(origin: .flag("--dst"), message: "\(dst) is an IPv4-mapped address, which a socket sends as IPv4; allowed: the IPv4 address itself")
        }
        var source: (IPAddress, Port?)?
        if let src {
            guard let parsed = Self.endpoint(src) ?? IPAddress(src).map({ ($0, nil) }) else {
                throw ConfigError(origin: .flag("--src"), message: "\(src) is no source; allowed: ADDRESS, ADDRESS:PORT or [IPV6]:PORT")
            }
            guard parsed.0.family == destination.family else {
                throw ConfigError(origin: .flag("--src"), message: "\(src) is not of the destination's family; allowed: an address of the destination's family")
            }
            source = (parsed.0, try parsed.1.map { text in
                try Self.checked("--src", src) { try Values.port(text, allowed: Self.portAllowed) }
            })
        }
        if direction == .inbound && (uid != nil || gid != nil) {
            throw ConfigError(origin: .flag(uid != nil ? "--uid" : "--gid"), message: "an arriving packet has no local owner; allowed: --uid and --gid with --direction outbound")
        }
        if host.netns != nil && !live {
            throw ConfigError(origin: .flag("--netns"), message: "--netns names the namespace whose live rules --live walks; allowed: --netns with --live")
        }
        let interface = try iface.map { name in try Self.checked("--iface", name) { try Values.interface(name) } }
        // Without a config, the one the last apply recorded (its PROXY_UID is the one the live
        // rules let through), said; with none recorded, Istio's defaults.
        let onHost = try config.loadOnHost(host, locking: .never, entering: live)
        let (loaded, accounts) = (onHost.loaded, onHost.accounts)
        if !onHost.hasConfig {
            Report.say(["no config given, and none recorded here: Istio's defaults"])
            config.say(loaded)
        }
        // Checked as the config checks PROXY_UID and PROXY_GID, names through the same files.
        let uid = try uid.map { text in try Self.checked("--uid", text) { try Values.ownerID(text, .user, accounts: accounts) } }
        let gid = try gid.map { text in try Self.checked("--gid", text) { try Values.ownerID(text, .group, accounts: accounts) } }
        let plan = CapturePlan(loaded.config)
        let family = destination.family
        // Without --live, --backend only picks the syntax and layout: nft unless told.
        var dialect = (host.backend ?? .nft).dialect
        let ruleset: Ruleset
        let origin: String
        if live {
            let residue = host.site.residue()
            let chosen = try host.choose(loaded.run, residue: residue)
            Report.say(chosen.notes)
            dialect = chosen.host.dialect
            let layout = dialect.layouts([family])[0]
            let reading = try chosen.host.observation()
            let rules = reading.rules
            // The live rules as verify and diff place them.
            ruleset = Comparison(CounterReading(source: chosen.host.name, dialect: dialect, rules: rules, chains: reading.chains), desired: nil).ruleset(layout)
            // Other programs' rules that see packets first decide before meshcap's do.
            Report.note(reading.ahead.map(\.sentence))
            origin = "live rules, \(chosen.host.name)"
            let unwalked = Ruleset.unwalked(rules, layout: layout)
            if unwalked > 0 {
                Report.note(["\(unwalked) rules of other programs at meshcap's hooks are not walked (they are not in meshcap's model); `meshcap verify` lists them"])
            }
            if ruleset.tables.isEmpty { Report.note(["no capture rules of meshcap's or Istio's in \(chosen.host.name)"]) }
        } else {
            ruleset = plan.programmed(dialect.layouts([family])[0])
            origin = "\(dialect.syntax), from the config"
        }
        let connection = Connection(direction: direction, proto: proto, destination: destination, destinationPort: port,
                                    source: source?.0, sourcePort: source?.1, uid: uid, gid: gid, interface: interface)
        let walk = PacketWalk(connection, through: ruleset, resolve: accounts.resolver)
        let steps = walk.steps.map { step -> ExplainReport.Step in
            let table = dialect.table(step.table), chain = dialect.chain(step.chain)
            let text = step.rule.map { dialect.statement($0, family: family) }
            if case .builtin = step.chain { return ExplainReport.Step(table: table, chain: chain, rule: text, position: step.index.map { $0 + 1 }, base: true) }
            return ExplainReport.Step(table: table, chain: chain, rule: text, position: step.index.map { $0 + 1 }, base: false)
        }
        // One at a time: a config may put two roles on one port (the later one is named).
        var roles: [Port: String] = [:]
        roles[Istio.agentDNSPort] = "istio-agent's DNS proxy"
        roles[plan.config.inboundCapturePort] = "Envoy's inbound listener"
        roles[plan.config.proxyPort] = "Envoy's outbound listener"
        let report = ExplainReport(connection: connection, source: origin, steps: steps, walk: walk, portRoles: roles)
        if !walk.unknowns.isEmpty {
            Report.note(["the rules tested \(walk.unknowns.joined(separator: ", ")), which this connection leaves open: the outcome is for a connection without it (give it to be sure)"])
        }
        print(json ? report.json : report.text, terminator: "")
    }

    static let portAllowed = "ADDRESS:PORT or [IPV6]:PORT, the port 1–65535"

    /// The config's check of a value, its refusal said at the flag.
    static func checked<Value>(_ flag: String, _ given: String, _ check: () throws -> Value) throws -> Value {
        do {
            return try check()
        } catch let problem as ValueProblem {
            throw ConfigError(flag: flag, value: given, problem)
        }
    }

    /// "10.0.0.1:80", "[fd00::1]:80": the address, and the port as written.
    static func endpoint(_ text: String) -> (IPAddress, Substring)? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = text[..<colon]
        let portText = text[text.index(after: colon)...]
        if host.hasPrefix("[") {
            guard host.hasSuffix("]") else { return nil }
            host = host.dropFirst().dropLast()
        } else if host.contains(":") {
            return nil
        }
        guard let address = IPAddress(host) else { return nil }
        return (address, portText)
    }
}
