public typealias Port = UInt16

public enum L4Protocol: String, Sendable, Hashable, CaseIterable {
    case tcp
    case udp
}

/// Conntrack states, in the order nft prints them.
public enum ConntrackState: String, Sendable, Hashable, CaseIterable, Comparable {
    case invalid
    case established
    case related
    case new

    private var rank: Int {
        switch self {
        case .invalid: 0
        case .established: 1
        case .related: 2
        case .new: 3
        }
    }

    public static func < (lhs: ConntrackState, rhs: ConntrackState) -> Bool { lhs.rank < rhs.rank }
}

/// One condition of a rule. A rule's matches are in the order nftables evaluates and lists them;
/// the iptables renderer reorders only what iptables itself puts first (addresses, interfaces,
/// protocol and ports).
public enum Match: Sendable, Hashable {
    /// The transport protocol (`meta l4proto` / `-p`).
    case l4proto(L4Protocol)
    case source(Prefix, negated: Bool = false)
    case destination(Prefix, negated: Bool = false)
    /// The destination is in a named set of prefixes (nft only: `ip daddr @NAME`).
    case destinationSet(PrefixSet)
    /// The source is in a named set of prefixes (nft only: `ip saddr @NAME`).
    case sourceSet(PrefixSet)
    case inInterface(String)
    case outInterface(String)
    /// One port or a set of ports; a port match implies its protocol.
    case destinationPort(L4Protocol, [Port], negated: Bool = false)
    case sourcePort(L4Protocol, [Port], negated: Bool = false)
    /// The destination port is in a named set (nft only: `tcp dport @NAME`); implies the protocol.
    case destinationPortSet(L4Protocol, PortSet)
    /// The local socket's owner (`meta skuid` / `-m owner --uid-owner`); output hooks only.
    case socketUser(Owner, negated: Bool = false)
    case socketGroup(Owner, negated: Bool = false)
    /// The packet mark (`meta mark` / `-m mark --mark`).
    case mark(UInt32, negated: Bool = false)
    /// The connection's mark (`ct mark` / `-m connmark --mark`).
    case connmark(UInt32)
    case conntrackState([ConntrackState])
    /// At most this many packets a second, in bursts of up to 5 (`limit rate N/second` /
    /// `-m limit --limit N/sec`; 5 is both tools' default burst, so neither is told it).
    case rateLimit(perSecond: UInt32)

    /// The protocol of a port match.
    public var portProtocol: L4Protocol? {
        switch self {
        case .destinationPort(let proto, _, _), .sourcePort(let proto, _, _), .destinationPortSet(let proto, _): proto
        default: nil
        }
    }

    /// The protocol a match needs the packet to have: its own, or its port match's.
    public var impliedProtocol: L4Protocol? {
        if case .l4proto(let proto) = self { return proto }
        return portProtocol
    }

    /// The named set it looks up, if any. Only nftables has them: iptables (without ipset) gets
    /// a rule per prefix and multiport rules from the plan instead.
    public var namedSet: NamedSet? {
        switch self {
        case .destinationSet(let set), .sourceSet(let set): .prefixes(set)
        case .destinationPortSet(_, let set): .ports(set)
        default: nil
        }
    }

    /// The family an address match ties its rule to; nil for family-neutral matches.
    public var family: Family? {
        switch self {
        case .source(let prefix, _), .destination(let prefix, _): prefix.family
        case .destinationSet(let set), .sourceSet(let set): set.family
        default: nil
        }
    }
}
