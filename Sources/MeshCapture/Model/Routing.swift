/// What capture needs from routing rather than from netfilter, so apply and clean program it
/// with the rules instead of leaving it to a hand-run `ip` command. TPROXY hands a packet to a
/// local socket only if the packet is routed locally: packets carrying the TPROXY mark are looked
/// up in a table of their own, where every destination is local. Envoy's IPv6 inbound passthrough
/// binds ::6, which lo has only once it is added (IPv4's 127.0.0.6 is already in 127.0.0.0/8).
public enum RoutingEntry: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// `ip rule add fwmark MARK lookup TABLE`
    case markRule(Family, mark: UInt32, table: UInt32)
    /// `ip route add local default dev lo table TABLE`
    case localDefault(Family, table: UInt32)
    /// `ip addr add ADDRESS dev lo`
    case loopbackAddress(Prefix)

    public var family: Family {
        switch self {
        case .markRule(let family, _, _), .localDefault(let family, _): family
        case .loopbackAddress(let prefix): prefix.family
        }
    }

    /// As `ip` would be told to make it.
    public var description: String { command("add") }

    /// As `ip` would be told to remove it.
    public var removal: String { command("del") }

    private func command(_ verb: String) -> String {
        let ip = family == .ipv4 ? "ip -4" : "ip -6"
        switch self {
        case .markRule(_, let mark, let table): return "\(ip) rule \(verb) fwmark \(mark) lookup \(table)"
        case .localDefault(_, let table): return "\(ip) route \(verb) local default dev lo table \(table)"
        case .loopbackAddress(let prefix): return "\(ip) addr \(verb) \(prefix) dev lo"
        }
    }

    public static func < (lhs: RoutingEntry, rhs: RoutingEntry) -> Bool { lhs.description < rhs.description }
}
