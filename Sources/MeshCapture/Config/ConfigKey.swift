/// One accepted key: its Istio name, the VM `cluster.env`/`sidecar.env` names and the
/// istio-iptables flags that set it, its default and what it means. This table is the single
/// source for parsing, for `meshcap keys` and for the flag help.
public struct ConfigKey: Sendable {
    public typealias RuleApply = @Sendable (inout InterceptConfig, String, AccountDatabase) throws(ValueProblem) -> Void
    public typealias RunApply = @Sendable (inout RunSettings, Setting) throws(ValueProblem) -> Void

    /// What setting the key does.
    public enum Effect: Sendable {
        /// Shapes the rules.
        case rules(RuleApply)
        /// Changes what a command does, as it does in istio-iptables (`DRY_RUN`, `CLEANUP_ONLY`).
        case run(RunApply)
        /// Accepted because Istio's files carry it; shapes nothing (reported with --verbose).
        case none
    }

    public let name: String
    public let aliases: [String]
    public let flags: [String]
    public let defaultValue: String
    public let meaning: String
    public let effect: Effect
    /// A flag that takes no value (`--redirect-dns`).
    public let isSwitch: Bool

    init(_ name: String, aliases: [String] = [], flags: [String] = [], default defaultValue: String = "",
         switch isSwitch: Bool = false, _ meaning: String, apply: @escaping RuleApply) {
        self.init(name, aliases: aliases, flags: flags, default: defaultValue, switch: isSwitch, meaning, effect: .rules(apply))
    }

    init(_ name: String, aliases: [String] = [], flags: [String] = [], default defaultValue: String = "",
         switch isSwitch: Bool = false, _ meaning: String, effect: Effect) {
        self.name = name
        self.aliases = aliases
        self.flags = flags
        self.defaultValue = defaultValue
        self.meaning = meaning
        self.effect = effect
        self.isSwitch = isSwitch
    }

    public var shapesRules: Bool {
        if case .rules = effect { true } else { false }
    }

    static func ignored(_ name: String, aliases: [String] = [], flags: [String] = [], switch isSwitch: Bool = false,
                        _ meaning: String) -> ConfigKey {
        ConfigKey(name, aliases: aliases, flags: flags, switch: isSwitch, meaning, effect: .none)
    }

    /// A boolean run-mode key: remembered, with where it was set, when true.
    static func runSwitch(_ name: String, flags: [String], _ meaning: String,
                          _ field: WritableKeyPath<RunSettings, Setting?> & Sendable) -> ConfigKey {
        ConfigKey(name, flags: flags, default: "false", switch: true, meaning, effect: .run { run, setting throws(ValueProblem) in
            run[keyPath: field] = try Values.boolean(setting.value) ? setting : nil
        })
    }
}

extension ConfigKey {
    public static let all: [ConfigKey] = ruleKeys + runKeys + ignoredKeys

    /// The one place defaults are spelled: the table shows what an empty config holds.
    static let defaults = InterceptConfig()
    static let onePort = "one port 1–65535"

    static let ruleKeys: [ConfigKey] = [
        ConfigKey("PROXY_PORT", aliases: ["ENVOY_PORT"], flags: ["-p", "--envoy-port"], default: String(defaults.proxyPort),
                  "Envoy's outbound port: target of ISTIO_REDIRECT") { c, v, _ throws(ValueProblem) in
            if !v.isEmpty { c.proxyPort = try Values.port(Substring(v), allowed: onePort) } },
        ConfigKey("INBOUND_CAPTURE_PORT", flags: ["-z", "--inbound-capture-port"], default: String(defaults.inboundCapturePort),
                  "Envoy's inbound port: target of ISTIO_IN_REDIRECT and of TPROXY") { c, v, _ throws(ValueProblem) in
            if !v.isEmpty { c.inboundCapturePort = try Values.port(Substring(v), allowed: onePort) } },
        ConfigKey("INBOUND_TUNNEL_PORT", flags: ["-e", "--inbound-tunnel-port"], default: String(defaults.inboundTunnelPort),
                  "HBONE tunnel port: never captured inbound, never looped back") { c, v, _ throws(ValueProblem) in
            if !v.isEmpty { c.inboundTunnelPort = try Values.port(Substring(v), allowed: onePort) } },
        ConfigKey("PROXY_UID", flags: ["-u", "--proxy-uid"],
                  default: "ENVOY_USER's UID, else \(defaults.proxyUsers.map(\.description).joined(separator: ","))",
                  "UIDs of the proxy: their traffic is not captured again") { c, v, a throws(ValueProblem) in
            if !v.isEmpty { c.proxyUsers = try Values.owners(v, .user, accounts: a) } },
        ConfigKey("PROXY_GID", flags: ["-g", "--proxy-gid"], default: "PROXY_UID",
                  "GIDs of the proxy, exempted like PROXY_UID") { c, v, a throws(ValueProblem) in
            if !v.isEmpty { c.proxyGroupsSetting = try Values.owners(v, .group, accounts: a) } },
        ConfigKey("ENVOY_USER", default: HostDefaults.envoyUser,
                  "The account Envoy runs as: its UID (from --passwd-file) is PROXY_UID when PROXY_UID is unset") { _, v, _ throws(ValueProblem) in
            try Values.accountName(v) },
        ConfigKey("INBOUND_INTERCEPTION_MODE", aliases: ["ISTIO_INBOUND_INTERCEPTION_MODE"],
                  flags: ["-m", "--istio-inbound-interception-mode"], default: defaults.interceptionMode.rawValue,
                  "REDIRECT (nat) or TPROXY (mangle, keeps the client address)") { c, v, _ throws(ValueProblem) in
            switch v {
            case "", "REDIRECT": c.interceptionMode = .redirect
            case "TPROXY": c.interceptionMode = .tproxy
            default:
                let hint = ["REDIRECT", "TPROXY"].first { $0 == v.uppercased() }.map { " (did you mean \($0)?)" } ?? ""
                throw ValueProblem("\"\(v)\" is not an interception mode\(hint)", allowed: "REDIRECT or TPROXY")
            } },
        ConfigKey("INBOUND_TPROXY_MARK", aliases: ["ISTIO_INBOUND_TPROXY_MARK"],
                  flags: ["-t", "--istio-inbound-tproxy-mark"], default: String(defaults.tproxyMark),
                  "Packet and connection mark used by TPROXY mode") { c, v, _ throws(ValueProblem) in
            if !v.isEmpty { c.tproxyMark = try Values.mark(v) } },
        ConfigKey("INBOUND_TPROXY_ROUTE_TABLE", aliases: ["ISTIO_INBOUND_TPROXY_ROUTE_TABLE"],
                  flags: ["-r", "--istio-inbound-tproxy-route-table"], default: String(defaults.tproxyRouteTable),
                  "Policy-routing table for TPROXY's mark (routes, not firewall rules)") { c, v, _ throws(ValueProblem) in
            if !v.isEmpty { c.tproxyRouteTable = try Values.routeTable(v) } },
        ConfigKey("INBOUND_PORTS_INCLUDE", aliases: ["ISTIO_INBOUND_PORTS"], flags: ["-b", "--istio-inbound-ports"],
                  "Inbound TCP ports to capture: a list, * for all, empty for none") { c, v, _ throws(ValueProblem) in
            c.inboundPorts = try Values.ports(v, wildcard: true) },
        ConfigKey("INBOUND_PORTS_EXCLUDE", aliases: ["ISTIO_LOCAL_EXCLUDE_PORTS"],
                  flags: ["-d", "--istio-local-exclude-ports"],
                  "Inbound ports left alone when INBOUND_PORTS_INCLUDE is * (e.g. 22 for SSH)") { c, v, _ throws(ValueProblem) in
            c.inboundPortsExclude = try Values.ports(v, wildcard: false).listed },
        ConfigKey("INBOUND_IPRANGES_EXCLUDE", flags: ["--exclude-inbound-ips"],
                  "meshcap's own (Kuma's --exclude-inbound-ips, Linkerd's --subnets-to-ignore): source prefixes whose inbound connections reach the app uncaptured, e.g. load-balancer health checks") { c, v, _ throws(ValueProblem) in
            c.inboundRangesExclude = try Values.prefixes(v, wildcard: false, side: "source").listed },
        ConfigKey("OUTBOUND_OWNER_GROUPS_INCLUDE", aliases: ["ISTIO_OUTBOUND_OWNER_GROUPS"], default: defaults.outboundOwnerGroups == .all ? "*" : "",
                  "Groups (names or GIDs) whose outbound traffic is captured; * for all") { c, v, a throws(ValueProblem) in
            c.outboundOwnerGroups = v.isEmpty || v == "*" ? .all : .only(try Values.owners(v, .group, accounts: a, max: 64)) },
        ConfigKey("OUTBOUND_OWNER_GROUPS_EXCLUDE", aliases: ["ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE"],
                  "Groups whose outbound traffic is not captured (with include *)") { c, v, a throws(ValueProblem) in
            c.outboundOwnerGroupsExclude = try Values.owners(v, .group, accounts: a, max: 64) },
        ConfigKey("OUTBOUND_PORTS_INCLUDE", aliases: ["ISTIO_OUTBOUND_PORTS"], flags: ["-q", "--istio-outbound-ports"],
                  "Outbound TCP destination ports always sent to the proxy") { c, v, _ throws(ValueProblem) in
            c.outboundPortsInclude = try Values.ports(v, wildcard: false).listed },
        ConfigKey("OUTBOUND_PORTS_EXCLUDE", aliases: ["ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE"],
                  flags: ["-o", "--istio-local-outbound-ports-exclude"],
                  "Outbound TCP and UDP destination ports never sent to the proxy") { c, v, _ throws(ValueProblem) in
            c.outboundPortsExclude = try Values.ports(v, wildcard: false).listed },
        ConfigKey("OUTBOUND_IPRANGES_INCLUDE", aliases: ["ISTIO_SERVICE_CIDR"], flags: ["-i", "--istio-service-cidr"],
                  "Destination prefixes sent to the proxy (the service CIDR); * for all") { c, v, _ throws(ValueProblem) in
            c.outboundRanges = try Values.prefixes(v, wildcard: true) },
        ConfigKey("OUTBOUND_IPRANGES_EXCLUDE", aliases: ["ISTIO_SERVICE_EXCLUDE_CIDR"],
                  flags: ["-x", "--istio-service-exclude-cidr"],
                  "Destination prefixes never sent to the proxy (checked before the include list)") { c, v, _ throws(ValueProblem) in
            c.outboundRangesExclude = try Values.prefixes(v, wildcard: false, side: "destination").listed },
        ConfigKey("KUBE_VIRT_INTERFACES", flags: ["-k", "--kube-virt-interfaces"],
                  "Interfaces whose inbound traffic is treated as outbound (KubeVirt VMs)") { c, v, _ throws(ValueProblem) in
            c.kubeVirtInterfaces = try Values.interfaces(v) },
        ConfigKey("EXCLUDE_INTERFACES", aliases: ["ISTIO_EXCLUDE_INTERFACES"], flags: ["-c", "--istio-exclude-interfaces"],
                  "Interfaces exempt from capture in both directions") { c, v, _ throws(ValueProblem) in
            c.excludeInterfaces = try Values.interfaces(v) },
        ConfigKey("REDIRECT_DNS", aliases: ["ISTIO_META_DNS_CAPTURE"], flags: ["--redirect-dns"], default: String(defaults.redirectDNS),
                  switch: true, "Send DNS (port 53) to the agent on 15053") { c, v, _ throws(ValueProblem) in
            c.redirectDNS = try Values.boolean(v) },
        ConfigKey("CAPTURE_ALL_DNS", flags: ["--capture-all-dns"], default: String(defaults.captureAllDNS), switch: true,
                  "Capture DNS to every server, not only DNS_SERVERS_V4/V6") { c, v, _ throws(ValueProblem) in
            c.captureAllDNS = try Values.boolean(v) },
        ConfigKey("DROP_INVALID", aliases: ["INVALID_DROP"], flags: ["--drop-invalid"], default: String(defaults.dropInvalid), switch: true,
                  "Drop conntrack-INVALID packets instead of letting them reset connections") { c, v, _ throws(ValueProblem) in
            c.dropInvalid = try Values.boolean(v) },
        ConfigKey("ENABLE_INBOUND_IPV6", flags: ["--ipv6"], default: String(defaults.ipv6), switch: true,
                  "Also capture IPv6 (ip6tables rules; ip6 rules in the inet tables)") { c, v, _ throws(ValueProblem) in
            c.ipv6 = try Values.boolean(v) },
        // Read by HostDefaults: Istio switches IPv6 on from the host's address, meshcap from this one.
        ConfigKey("ISTIO_SVC_IP", "The VM's address, as istioctl writes it: when IPv6, IPv6 capture is on unless ENABLE_INBOUND_IPV6 says otherwise") { _, _, _ in },
        ConfigKey("DNS_SERVERS_V4", flags: ["--dns-servers-v4"],
                  "IPv4 DNS servers whose port-53 traffic is captured; unset with DNS capture on: the nameservers of --resolv-conf, as Istio reads them") { c, v, _ throws(ValueProblem) in
            c.dnsServersV4 = try Values.addresses(v, family: .ipv4) },
        ConfigKey("DNS_SERVERS_V6", flags: ["--dns-servers-v6"],
                  "IPv6 DNS servers, used like DNS_SERVERS_V4") { c, v, _ throws(ValueProblem) in
            c.dnsServersV6 = try Values.addresses(v, family: .ipv6) },
        ConfigKey("HOST_IPV4_LOOPBACK_CIDR", aliases: ["ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR"], default: defaults.hostIPv4Loopback.description,
                  "IPv4 range treated as this host (IPv6 uses ::1); interface notation such as 127.0.0.1/8 means its network") { c, v, _ throws(ValueProblem) in
            if v.isEmpty { return }
            let allowed = "one IPv4 loopback prefix, /8 to /32, such as 127.0.0.1/32"
            guard let prefix = try? Prefix.parseMasking(Substring(v)) else {
                throw ValueProblem("\"\(v)\" is not an IPv4 prefix", allowed: allowed)
            }
            guard prefix.family == .ipv4 else { throw ValueProblem("\(v) is an IPv6 prefix", allowed: allowed) }
            // As Istio validates it: the rules negate it, and "not anywhere" matches nothing.
            guard prefix.address.isLoopback, (8...32).contains(prefix.length) else {
                throw ValueProblem("\(v) is not within 127.0.0.0/8, or is shorter than /8", allowed: allowed)
            }
            c.hostIPv4Loopback = prefix },
        ConfigKey("MESHCAP_LOG", flags: ["--log"], switch: true,
                  "meshcap's own: a rate-limited log rule (10/s) in front of each rule that captures or lets a connection by, its prefix naming the direction and verdict (\"meshcap in capture: \"); true for the prefix meshcap, or a prefix of your own (--log=web)") { c, v, _ throws(ValueProblem) in
            c.logPrefix = try Values.logPrefix(v) },
        ConfigKey("MESHCAP_LOG_GROUP", flags: ["--log-group"],
                  "meshcap's own: log to this nfnetlink_log group (NFLOG; ulogd, or a namespace, where kernel log lines are off) instead of the kernel log; turns --log on") { c, v, _ throws(ValueProblem) in
            c.logGroup = v.isEmpty ? nil : UInt16(exactly: try Values.uint32(v, allowed: "a group number 0–65535"))
            if !v.isEmpty && c.logGroup == nil { throw ValueProblem("\(v) is not a group number", allowed: "a group number 0–65535") } },
        ConfigKey("MESHCAP_LIST_LAYOUT", flags: ["--layout"], default: defaults.listLayout.rawValue,
                  "meshcap's own: how long CIDR and port lists are written: istio (a rule per prefix and per port), sets (nft sets with a counter per element; iptables multiport for ports), auto (sets from \(ListLayout.threshold) items on)") { c, v, _ throws(ValueProblem) in
            if v.isEmpty { return }
            guard let layout = ListLayout(rawValue: v) else {
                throw ValueProblem("\"\(v)\" is not a list layout", allowed: ListLayout.allCases.map(\.rawValue).joined(separator: ", "))
            }
            c.listLayout = layout },
    ]

    /// istio-iptables' settings that say whether to change the host at all. `apply` honours them
    /// (see `RunSettings`); ignoring them while writing rules would do what the user ruled out.
    static let runKeys: [ConfigKey] = [
        .runSwitch("DRY_RUN", flags: ["-n", "--dry-run"], "Print what would be applied; change nothing", \.dryRun),
        .runSwitch("SKIP_RULE_APPLY", flags: ["--skip-rule-apply"], "Change nothing (Istio: validate only)", \.skipRuleApply),
        .runSwitch("CLEANUP_ONLY", flags: ["--cleanup-only"], "Remove the rules instead of applying them", \.cleanupOnly),
        ConfigKey("NETWORK_NAMESPACE", flags: ["--network-namespace"], "Network namespace to program instead of the current one",
                  effect: .run { run, setting throws(ValueProblem) in
                      run.networkNamespace = setting.value.isEmpty ? nil : setting }),
        .runSwitch("NATIVE_NFTABLES", flags: ["--native-nftables"], "Program nftables (apply --backend nft) rather than iptables", \.nativeNftables),
        ConfigKey("FORCE_IPTABLES_BINARY", flags: ["--force-iptables-binary"], "legacy or nft: the iptables variant to program (apply --iptables-variant)",
                  effect: .run { run, setting throws(ValueProblem) in
                      guard ["", "legacy", "nft"].contains(setting.value) else {
                          throw ValueProblem("\"\(setting.value)\" is not an iptables variant", allowed: "legacy or nft")
                      }
                      run.iptablesVariant = setting.value.isEmpty ? nil : setting }),
    ]

    static let ignoredKeys: [ConfigKey] = [
        .ignored("DUAL_STACK", aliases: ["ISTIO_DUAL_STACK"], flags: ["--dual-stack"], switch: true,
                 "Istio: host-IP detection at start-up; set ENABLE_INBOUND_IPV6 for IPv6 rules"),
        .ignored("HOST_IP", "Istio: the pod IP found at start-up"),
        .ignored("IPTABLES_PROBE_PORT", flags: ["--iptables-probe-port"], "Istio: validation probe port"),
        .ignored("PROBE_TIMEOUT", flags: ["--probe-timeout"], "Istio: validation probe timeout"),
        .ignored("RUN_VALIDATION", flags: ["--run-validation"], switch: true, "Istio: loopback probe after apply"),
        .ignored("CNI_MODE", flags: ["--cni-mode"], switch: true, "Istio: running from the CNI plugin"),
        .ignored("RECONCILE", flags: ["--reconcile"], switch: true, "Istio: re-apply on drift (meshcap apply always converges)"),
        .ignored("FORCE_APPLY", flags: ["--force-apply"], switch: true, "Istio: apply despite state checks"),
        .ignored("ISTIO_CUSTOM_IP_TABLES", "VM start script: skip istio-iptables"),
        .ignored("CANON_GROUP_GIDS", "Conformance corpus: the GIDs its kernel views assume for group names"),
.ignored("ISTIO_NAMESPACE", "VM identity"),
        .ignored("ISTIO_SERVICE", "VM identity"), .ignored("ISTIO_SYSTEM_NAMESPACE", "VM identity"),
        .ignored("POD_NAME", "VM identity"), .ignored("POD_NAMESPACE", "VM identity"),
        .ignored("SERVICE_ACCOUNT", "VM identity"), .ignored("TRUST_DOMAIN", "VM identity"),
        .ignored("CANONICAL_SERVICE", "VM identity"), .ignored("CANONICAL_REVISION", "VM identity"),
        .ignored("CA_ADDR", "VM control plane"), .ignored("ISTIO_CP_AUTH", "VM control plane"),
        .ignored("PILOT_ADDRESS", "VM control plane"), .ignored("ISTIO_PILOT_PORT", "VM control plane"),
        .ignored("PROXY_CONFIG", "VM control plane"), .ignored("PROV_CERT", "VM certificates"),
        .ignored("OUTPUT_CERTS", "VM certificates"), .ignored("ISTIO_AGENT_FLAGS", "VM agent process"),
        .ignored("EXEC_USER", "VM agent process"), .ignored("ISTIO_BIN_BASE", "VM paths"),
        .ignored("ISTIO_LOG_DIR", "VM paths"),
        .ignored("ISTIO_METAJSON_LABELS", "VM identity: workload labels istioctl writes for the agent"),
    ]

    /// Keys that look meaningful but are not: accepting them silently would leave a user
    /// believing a port is excluded when it is not.
    static let misleading: [String: String] = [
        "ISTIO_INBOUND_EXCLUDE_PORTS": "is documented in Istio's sidecar.env but never read by istio-iptables; the key that excludes inbound ports is ISTIO_LOCAL_EXCLUDE_PORTS",
    ]

    /// Proxy metadata (`ISTIO_META_*`) is for the agent, not the firewall; only
    /// ISTIO_META_DNS_CAPTURE shapes rules, and it is in the table above.
    static let ignoredPrefix = "ISTIO_META_"
}
