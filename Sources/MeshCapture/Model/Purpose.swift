/// What in the config a rule implements. The plan attaches it to each rule it declares; it rides
/// through resolution and changes nothing a backend writes (two rules with the same matches and
/// target are the same rule, whatever they are for). `verify` reads counters back through it:
/// "inbound port 8080: 42 connections captured".
public enum Purpose: Sendable, Hashable {
    public enum Direction: String, Sendable, Hashable, CaseIterable {
        case inbound
        case outbound
    }

    /// What happens to the traffic a rule matches.
    public enum Action: String, Sendable, Hashable {
        /// Sent to the proxy.
        case capture
        /// Left alone because the config says so (a port, a range, a group, an interface).
        case exclude
        /// The HBONE tunnel port: never captured.
        case tunnel
        /// The proxy's own traffic: never captured again.
        case bypass
        /// Traffic over lo or to a loopback address: left alone.
        case loopback
        /// Envoy's inbound passthrough to the app: left alone.
        case passthrough
        /// DNS sent to the agent.
        case agent
        /// DNS put into its conntrack zone.
        case zone
        /// Conntrack-INVALID packets dropped.
        case drop
        /// TPROXY's marks, set or carried.
        case mark
    }

    /// A hook's jump into meshcap's chains: every packet meshcap looks at in that direction.
    case entry(Direction)
    /// The rule that hands connections to the proxy (REDIRECT, TPROXY): every capture in that direction.
    case handoff(Direction)
    /// A step inside meshcap's chains whose packets another rule's row already counts (the jump
    /// to the DNS chain, ISTIO_DIVERT's mark, ISTIO_DROP's drop).
    case path(ChainName)
    /// Inbound TCP to a port: captured, excluded, or the tunnel port.
    case inboundPort(Port, Action)
    /// Inbound TCP to every port not excluded (`*`).
    case inboundOtherPorts
    /// Inbound TCP from a source range the config excludes (INBOUND_IPRANGES_EXCLUDE).
    case inboundSource(Prefix)
    /// Inbound TCP from the ranges of one family's set of excluded sources; a row per element.
    case inboundSourceSet(Family)
    /// Outbound to a destination range: captured or excluded.
    case outboundRange(Prefix, Action)
    /// Outbound to the ranges of one family's set: captured or excluded. Its elements' counters
    /// make one `outboundRange` row each.
    case outboundRangeSet(Family, Action)
    /// Inbound TCP to the ports of a set: captured or excluded; a row per element, as
    /// `inboundPort`. With TPROXY two rules look the set up; its elements count once per packet
    /// of either.
    case inboundPortSet(Action)
    /// Outbound to the ports of a set: excluded (TCP and UDP, a set each) or captured (TCP).
    case outboundPortSet(L4Protocol, Action)
    /// Several ports in one iptables rule (multiport, at most 15): one row for them all.
    case portGroup(Direction, [Port], L4Protocol, Action)
    /// Outbound to every destination (`*`).
    case outboundOtherRanges
    /// Outbound to every destination not listed before it, let by: Istio before 1.23 ended an
    /// include list with a bare return (meshcap and later Istio let the chain end instead).
    case outboundOtherRangesLeft
    /// Outbound to a destination port: excluded (TCP and UDP) or captured (TCP).
    case outboundPort(Port, L4Protocol, Action)
    /// The proxy's UID or GID: its traffic bypasses capture; its calls to its own workload
    /// through a service address (over lo) are captured for the inbound port.
    case proxy(Owner, group: Bool, Action)
    /// Outbound of a group the config excludes.
    case ownerGroup(Owner)
    /// Outbound of every group but the listed ones (an include list): left alone.
    case otherGroups([Owner])
    /// An interface whose traffic is left alone, or (KubeVirt) whose guests' traffic is captured.
    case interface(String, Direction, Action)
    /// Traffic to a loopback address, over lo (nil: any address), or from Envoy's passthrough source.
    case host(Prefix?, Action)
    /// DNS to a server (nil: any) over TCP or UDP, sent to the agent.
    case dns(IPAddress?, L4Protocol)
    /// DNS packets put into a conntrack zone.
    case dnsZone(UInt16)
    /// Conntrack-INVALID packets.
    case invalid
    /// TPROXY's mark plumbing (save and restore the mark, Envoy's outbound mark, already-marked packets).
    case tproxyMark(Direction)
    /// A rate-limited log rule (`--log`) in front of a rule that decides where a connection goes;
    /// its counter is what was logged, in no row.
    case log(Direction, Action)

    /// The verify row it adds to: direction, what (a port, a range, an owner...), and action.
    /// nil for entries, handoffs and paths, which make the totals or are counted elsewhere. A
    /// set's elements make its rows; its own row is for a set too long to count element by
    /// element (`NamedSet.countsElements`).
    public var row: (direction: Direction, subject: String, action: Action)? {
        switch self {
        case .entry, .handoff, .path, .log: nil
        case .outboundRangeSet(_, let action): (.outbound, "listed ranges, one counter", action)
        case .inboundSourceSet: (.inbound, "from listed ranges, one counter", .exclude)
        case .inboundPortSet(let action): (.inbound, "listed ports, one counter", action)
        case .outboundPortSet(let proto, let action): (.outbound, "listed ports/\(proto.rawValue), one counter", action)
        case .portGroup(let direction, let ports, let proto, let action):
            (direction, "ports \(ports.map(String.init).joined(separator: ","))" + (direction == .outbound ? "/\(proto.rawValue)" : ""), action)
        case .inboundPort(let port, let action): (.inbound, "port \(port)", action)
        case .inboundOtherPorts: (.inbound, "other ports", .capture)
        case .inboundSource(let prefix): (.inbound, "from \(prefix)", .exclude)
        case .outboundRange(let prefix, let action): (.outbound, prefix.description, action)
        case .outboundOtherRanges: (.outbound, "other destinations", .capture)
        case .outboundOtherRangesLeft: (.outbound, "other destinations", .exclude)
        case .outboundPort(let port, let proto, let action): (.outbound, "port \(port)/\(proto.rawValue)", action)
        case .proxy(let owner, let group, let action):
            (.outbound, "\(group ? "gid" : "uid") \(owner)" + (action == .capture ? " to itself over lo" : ""), action)
        case .ownerGroup(let group): (.outbound, "gid \(group)", .exclude)
        case .otherGroups(let groups): (.outbound, "gid other than \(groups.map(\.description).joined(separator: ","))", .exclude)
        case .interface(let name, let direction, let action): (direction, "interface \(name)", action)
        case .host(let prefix, let action):
            (action == .passthrough ? .inbound : .outbound, prefix.map { (action == .passthrough ? "from " : "to ") + $0.description } ?? "over lo", action)
        case .dns(let server, let proto): (.outbound, "dns \(server.map(\.description) ?? "any server") \(proto.rawValue)", .agent)
        case .dnsZone(let zone): (.outbound, "dns conntrack zone \(zone)", .zone)
        case .invalid: (.inbound, "conntrack invalid", .drop)
        case .tproxyMark(let direction): (direction, "tproxy marks", .mark)
        }
    }

    /// Where the rule sends a connection, when it decides that: what `--log` puts a log rule in
    /// front of. nil for the entries and paths that only lead on, and for marks and zones, which
    /// decide nothing.
    public var decision: (direction: Direction, action: Action)? {
        switch self {
        case .outboundRangeSet(_, let action), .outboundPortSet(_, let action): (.outbound, action)
        case .inboundPortSet(let action): (.inbound, action)
        case .inboundSourceSet: (.inbound, .exclude)
        case .dnsZone, .tproxyMark, .log: nil
        default: row.map { ($0.direction, $0.action) }
        }
    }
}
