import MeshCapture

/// One line of `verify`: what in the config a set of rules implements, and what they counted.
/// Several rules add to one row (a port's TPROXY divert and its capture; both DNS protocols'
/// zone rules); rows are per family where the rules are.
public struct CounterRow: Sendable, Hashable {
    public let direction: Purpose.Direction
    /// "ipv4", "ipv6", or "all" for an nft rule that matches both.
    public let family: String
    /// What the row is about as people read it: "port 8080", "10.96.0.0/12", "uid 1337".
    public let subject: String
    public let action: Purpose.Action
    let purpose: Purpose
    public internal(set) var packets: UInt64
    public internal(set) var bytes: UInt64
    /// How many live rules (or set elements) add to it.
    public internal(set) var rules: Int
    /// How many of them have no counter: then the row's numbers are not counted, which is not 0.
    public internal(set) var uncounted = 0
    public var counted: Bool { uncounted == 0 }

    init?(_ purpose: Purpose, family: String) {
        guard let row = purpose.row else { return nil }
        direction = row.direction
        self.family = family
        subject = row.subject
        action = row.action
        self.purpose = purpose
        packets = 0
        bytes = 0
        rules = 0
    }

    /// The subject as Prometheus labels: `port`, `cidr`, `protocol` where they apply, else
    /// `subject`; sorted by name, as both formats write them (pairs, not a dictionary: a
    /// 10,000-row report built and sorted 20,000 dictionaries for them).
    public var labels: [(key: String, value: String)] {
        switch purpose {
        case .inboundPort(let port, _): [("port", String(port)), ("protocol", "tcp")]
        case .outboundPort(let port, let proto, _): [("port", String(port)), ("protocol", proto.rawValue)]
        case .outboundRange(let prefix, _): [("cidr", prefix.description)]
        case .inboundSource(let prefix): [("source", prefix.description)]
        case .dns(let server, let proto): [("port", "53"), ("protocol", proto.rawValue), ("server", server?.description ?? "any")]
        default: [("subject", subject)]
        }
    }

    /// Rows are one per purpose and family.
    public struct Key: Hashable, Sendable {
        let direction: Purpose.Direction
        let family: String
        let subject: String
        let action: Purpose.Action
    }

    public var key: Key { Key(direction: direction, family: family, subject: subject, action: action) }
}
