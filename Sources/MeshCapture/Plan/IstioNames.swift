/// Istio's chain names and fixed addresses, kept so existing runbooks and dashboards match.
extension ChainName {
    public static let istioInbound = ChainName.regular("ISTIO_INBOUND")
    public static let istioRedirect = ChainName.regular("ISTIO_REDIRECT")
    public static let istioInRedirect = ChainName.regular("ISTIO_IN_REDIRECT")
    public static let istioOutput = ChainName.regular("ISTIO_OUTPUT")
    public static let istioOutputDNS = ChainName.regular("ISTIO_OUTPUT_DNS")
    public static let istioDivert = ChainName.regular("ISTIO_DIVERT")
    public static let istioTProxy = ChainName.regular("ISTIO_TPROXY")
    public static let istioDrop = ChainName.regular("ISTIO_DROP")

    /// Every chain the plan declares, in any table: these, and only these, are meshcap's (and
    /// what Istio's istio-iptables leaves behind).
    public static let istioChains: Set<ChainName> = [
        .istioInbound, .istioRedirect, .istioInRedirect, .istioOutput, .istioOutputDNS, .istioDivert, .istioTProxy, .istioDrop,
    ]
}

public enum Istio {
    /// The source address Envoy binds for inbound passthrough connections to the app.
    static let passthroughSources = [Prefix(host: .v4(0x7f00_0006)), Prefix(host: .v6(6))]
    static let ipv6Loopback = Prefix(host: .v6(1))
    static let loopbackInterface = "lo"
    public static let dnsPort: Port = 53
    /// The chain Istio ambient's in-pod redirection (istio-cni, for ztunnel) enters from
    /// PREROUTING, beside an ISTIO_OUTPUT of its own: no sidecar layout has it.
    public static let ambientChain = "ISTIO_PRERT"
    /// ssh's port, which Istio's inbound capture left alone before 1.13.
    static let sshPort: Port = 22
    /// The mark TPROXY puts on inbound connections by default (ISTIO_INBOUND_TPROXY_MARK).
    static let tproxyMark: UInt32 = 1337
    /// Where istio-agent's DNS proxy listens.
    public static let agentDNSPort: Port = 15053
    /// The mark Envoy's outbound side puts on connections to the app in TPROXY mode.
    static let outboundMark: UInt32 = 1338
    /// Conntrack zones that keep the proxy's upstream DNS (1) apart from the app's (2), so a
    /// reused UDP 4-tuple is not matched to the wrong NAT entry (Istio #33469).
    static let upstreamDNSZone: UInt16 = 1
    static let clientDNSZone: UInt16 = 2
}

extension Array where Element == Prefix {
    /// IPv4 prefixes first, then IPv6, each in the user's order: Istio handles the families in
    /// that order, which decides the order of rules in an `inet` table.
    var ipv4First: [Prefix] { filter { $0.family == .ipv4 } + filter { $0.family == .ipv6 } }
}
