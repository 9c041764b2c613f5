public enum InterceptionMode: String, Sendable, Hashable {
    /// Inbound TCP is NATed to the proxy in the nat table (the original destination is read
    /// back with SO_ORIGINAL_DST).
    case redirect = "REDIRECT"
    /// Inbound TCP is handed to the proxy unchanged with TPROXY in the mangle table, keeping the
    /// client's source address; needs a policy route for the mark.
    case tproxy = "TPROXY"
}

/// How long CIDR and port lists are written: nftables gets sets, iptables (which has no sets)
/// multiport rules for ports and still a rule per prefix.
public enum ListLayout: String, Sendable, Hashable, CaseIterable {
    /// One rule per prefix, as Istio writes them (what conformance compares).
    case istio
    /// A set per list (and family, for prefixes), with a counter per element; multiport in iptables.
    case sets
    /// `sets` for lists of `ListLayout.threshold` items or more, Istio's layout below.
    case auto

    /// From this many items (prefixes of one family, or ports) on, `auto` uses a set. A judgement,
    /// not a measurement: below it a connection walks at most 15 short rules (`make bench`
    /// measures what 10,000 cost, not where the curves cross), 15 is also the most ports one
    /// iptables multiport rule takes, and every list in Istio's own test cases is shorter (at
    /// most 3), so `auto` writes Istio's rules byte for byte wherever Istio has a golden.
    public static let threshold = 16

    /// Whether a list of `count` prefixes of one family goes into a set.
    public func usesSet(for count: Int) -> Bool {
        switch self {
        case .istio: false
        case .sets: count > 0
        case .auto: count >= Self.threshold
        }
    }
}

/// Everything that shapes the capture rules, validated. Defaults are Istio's.
public struct InterceptConfig: Sendable, Hashable {
    public var proxyPort: Port = 15001
    public var inboundCapturePort: Port = 15006
    public var inboundTunnelPort: Port = 15008
    /// Istio's fallback when ENVOY_USER's account does not exist (see `HostDefaults`).
    public var proxyUsers: [Owner] = [.id(1337)]
    /// nil until set: then it follows `proxyUsers`, as Istio's PROXY_GID does.
    public var proxyGroupsSetting: [Owner]?
    public var interceptionMode: InterceptionMode = .redirect
    public var tproxyMark: UInt32 = 1337
    public var tproxyRouteTable: UInt32 = 133
    public var inboundPorts: Selection<Port> = .none
    /// Only used when `inboundPorts` is `.all`.
    public var inboundPortsExclude: [Port] = []
    /// meshcap's own (Istio has none): sources whose inbound connections reach the app uncaptured.
    public var inboundRangesExclude: [Prefix] = []
    public var outboundOwnerGroups: Selection<Owner> = .all
    /// Only used when `outboundOwnerGroups` is `.all`.
    public var outboundOwnerGroupsExclude: [Owner] = []
    public var outboundPortsInclude: [Port] = []
    public var outboundPortsExclude: [Port] = []
    public var outboundRanges: Selection<Prefix> = .none
    public var outboundRangesExclude: [Prefix] = []
    public var kubeVirtInterfaces: [String] = []
    public var excludeInterfaces: [String] = []
    public var redirectDNS = false
    public var captureAllDNS = false
    public var dropInvalid = false
    public var ipv6 = false
    public var dnsServersV4: [IPAddress] = []
    public var dnsServersV6: [IPAddress] = []
    public var hostIPv4Loopback = Prefix(host: .v4(0x7f00_0001))
    public var listLayout: ListLayout = .auto
    /// meshcap's own: MESHCAP_LOG, the log prefix of `--log`; `.some(nil)` when it says false,
    /// nil when unset (then MESHCAP_LOG_GROUP alone turns logging on).
    public var logPrefix: String??
    /// meshcap's own: log to this nfnetlink_log group instead of the kernel log.
    public var logGroup: UInt16?

    public init() {}

    public var proxyGroups: [Owner] { proxyGroupsSetting ?? proxyUsers }

    /// What `--log` and `--log-group` ask for: a group alone logs with meshcap's prefix.
    public var logging: (prefix: String, group: UInt16?)? {
        switch logPrefix {
        case .some(let prefix?): return (prefix, logGroup)
        case .some(nil): return nil
        case nil: return logGroup.map { ("meshcap", $0) }
        }
    }

    public var families: Set<Family> { ipv6 ? [.ipv4, .ipv6] : [.ipv4] }

    /// DNS capture is on only if it has something to capture: Istio turns REDIRECT_DNS off when
    /// neither CAPTURE_ALL_DNS nor any DNS server is given.
    public var capturesDNS: Bool {
        redirectDNS && (captureAllDNS || !dnsServersV4.isEmpty || !dnsServersV6.isEmpty)
    }

    /// Whether the rules send nothing to the proxy: no outbound range or port, no inbound port,
    /// no KubeVirt interface and no DNS. Istio's files say so when cluster.env is missing (the
    /// package's sidecar.env has every line commented out); the chains are then only the
    /// proxy's bypasses, and "capture looks right" would be a lie.
    public var capturesNothing: Bool {
        outboundRanges == .none && outboundPortsInclude.isEmpty && inboundPorts == .none && kubeVirtInterfaces.isEmpty && !capturesDNS
    }

    /// What `capturesNothing` leaves empty, by key (and the cluster.env name), for messages.
    public static let captureKeys = "OUTBOUND_IPRANGES_INCLUDE (ISTIO_SERVICE_CIDR), INBOUND_PORTS_INCLUDE (ISTIO_INBOUND_PORTS), OUTBOUND_PORTS_INCLUDE, KUBE_VIRT_INTERFACES and REDIRECT_DNS"

    /// Why DNS capture, though asked for, writes no rule; nil when it writes some or was not asked.
    public var dnsCaptureGap: String? {
        guard redirectDNS, !captureAllDNS else { return nil }
        if dnsServersV4.isEmpty && dnsServersV6.isEmpty { return "there is no DNS server to capture and CAPTURE_ALL_DNS is false" }
        if dnsServersV4.isEmpty && !ipv6 { return "the only DNS servers are IPv6 and ENABLE_INBOUND_IPV6 is false" }
        return nil
    }
}
