/// A named nftables set of ports: how meshcap's tables hold a long port list (`tcp dport
/// @inbound-include-ports`), one lookup where Istio writes one rule per port, the element
/// counters (up to `NamedSet.elementCounterLimit` ports) keeping `verify`'s count per port.
/// `ListLayout` says when.
public struct PortSet: Sendable, Hashable {
    public let name: String
    /// Sorted, each once.
    public let ports: [Port]

    public init(name: String, ports: [Port]) {
        self.name = name
        self.ports = Array(Set(ports)).sorted()
    }
}

/// A set a table declares and its rules look up by name.
public enum NamedSet: Sendable, Hashable {
    case prefixes(PrefixSet)
    case ports(PortSet)

    public var name: String {
        switch self {
        case .prefixes(let set): set.name
        case .ports(let set): set.name
        }
    }

    /// Whether each element has a counter of its own, so that `verify` shows a row per CIDR or
    /// port. Up to `elementCounterLimit` elements: the kernel allocates a per-CPU counter for
    /// each element (two, and frees one, as it inserts it), which was 19 of the 38 ms it spent on
    /// a fresh set of 10,000 prefixes; a row per prefix of such a list is no reading for anyone.
    /// A longer set counts as a whole, through its rule's counter: one row.
    public var countsElements: Bool { count <= Self.elementCounterLimit }

    public static let elementCounterLimit = 256

    public var count: Int {
        switch self {
        case .prefixes(let set): set.prefixes.count
        case .ports(let set): set.ports.count
        }
    }

    public var elements: [SetElement] {
        switch self {
        case .prefixes(let set): set.prefixes.map(SetElement.prefix)
        case .ports(let set): set.ports.map(SetElement.port)
        }
    }
}

/// One element of a named set: what its counter counts for.
public enum SetElement: Sendable, Hashable {
    case prefix(Prefix)
    case port(Port)
}
