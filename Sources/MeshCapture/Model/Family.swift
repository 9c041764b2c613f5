/// An address family. iptables keeps the two apart (`iptables` and `ip6tables` hold separate
/// tables); an nftables `inet` table holds both.
public enum Family: String, Sendable, Hashable, CaseIterable, Comparable {
    case ipv4
    case ipv6

    public static func < (lhs: Family, rhs: Family) -> Bool { lhs == .ipv4 && rhs == .ipv6 }

    /// nft's word for the family of a table: `ip`, `ip6` (iptables-nft's tables are these).
    public var nftName: String { self == .ipv4 ? "ip" : "ip6" }
    /// How reports name it.
    public var label: String { self == .ipv4 ? "IPv4" : "IPv6" }
}

/// Which rules a ruleset is resolved for: one iptables family, or an nftables `inet` table that
/// carries the rules of every enabled family at once.
public enum Layout: Sendable, Hashable {
    case xtables(Family)
    case inet

    public func carries(_ family: Family) -> Bool {
        switch self {
        case .xtables(let own): own == family
        case .inet: true
        }
    }
}
