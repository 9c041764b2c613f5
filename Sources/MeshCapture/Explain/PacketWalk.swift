/// The first packet of a connection, as the rules see it: what `explain` asks about.
public struct Connection: Sendable, Hashable {
    public enum Direction: String, Sendable, Hashable, CaseIterable {
        /// Made on this host (OUTPUT): the app's, or Envoy's own.
        case outbound
        /// Arriving from elsewhere (PREROUTING).
        case inbound
    }

    public var direction: Direction
    public var proto: L4Protocol
    public var destination: IPAddress
    public var destinationPort: Port
    /// nil: not known (an outbound connection's source is chosen by routing); a rule that tests
    /// it does not match, and a negated one does.
    public var source: IPAddress?
    public var sourcePort: Port?
    /// The socket's owner: outbound only.
    public var uid: UInt32?
    public var gid: UInt32?
    /// The output interface (outbound) or the input interface (inbound).
    public var interface: String?

    public init(direction: Direction, proto: L4Protocol, destination: IPAddress, destinationPort: Port, source: IPAddress? = nil,
                sourcePort: Port? = nil, uid: UInt32? = nil, gid: UInt32? = nil, interface: String? = nil) {
        self.direction = direction
        self.proto = proto
        self.destination = destination
        self.destinationPort = destinationPort
        self.source = source
        self.sourcePort = sourcePort
        self.uid = uid
        self.gid = gid
        self.interface = interface
    }

    public var family: Family { destination.family }

    /// A loopback destination leaves through `lo` when no interface is given.
    public var effectiveInterface: String? { interface ?? (destination.isLoopback ? "lo" : nil) }
}

/// Where netfilter takes a connection's first packet through meshcap's rules, walked on the
/// model the way the kernel walks the tables: the hook's base chains in priority order (raw,
/// mangle, nat), each chain's rules in order, the first match's verdict, jumps and returns, the
/// chain's policy (accept) at the end; marks, connection marks and conntrack zones carried along.
/// nat is consulted only for a connection's first packet, which is what this walks.
public struct PacketWalk: Sendable {
    public enum Outcome: Sendable, Hashable {
        /// nat REDIRECT: to this host's port (Envoy's outbound or inbound listener, the agent's DNS).
        case redirect(Port)
        /// TPROXY: delivered to this port's transparent listener, unchanged.
        case tproxy(Port)
        /// Past every rule: the connection goes where it was going.
        case accept
        case drop
    }

    public struct Step: Sendable, Hashable {
        public let table: TableKind
        public let chain: ChainName
        /// The rule that matched, and its position (0-based) in the chain; nil: the chain ended
        /// without a terminal match (return to the caller, or the base chain's policy).
        public let rule: Rule?
        public let index: Int?
    }

    public let steps: [Step]
    public let outcome: Outcome
    /// The conntrack zone a CT rule put the connection in, if one did.
    public let zone: UInt16?
    public let mark: UInt32
    /// What the walk needed but the connection did not say ("owner", "output interface"): a rule
    /// tested it, so the outcome holds only for the value it was taken to have.
    public let unknowns: [String]

    /// - Parameter resolve: a user or group name's ID (`isGroup`), as the rules were resolved.
    public init(_ connection: Connection, through ruleset: Ruleset, resolve: @escaping (String, Bool) -> UInt32? = { _, _ in nil }) {
        var state = State(connection: connection, resolve: resolve)
        state.walk(ruleset, at: connection.direction == .outbound ? .output : .prerouting)
        // A connection that leaves through lo (to this host's own address, or redirected to a
        // local port) arrives again at PREROUTING on lo, its mark and conntrack entry with it:
        // raw and mangle see it there (TPROXY can take it), nat does not.
        if connection.direction == .outbound, state.outcome != .drop, let arrival = Self.arrival(of: connection, after: state.outcome) {
            var again = State(connection: arrival, resolve: resolve)
            again.steps = state.steps
            again.mark = state.mark
            again.connectionMark = state.connectionMark
            again.zone = state.zone
            again.tracked = true
            again.unknowns = state.unknowns
            again.walk(ruleset, at: .prerouting)
            if case .tproxy = again.outcome {} else { again.outcome = state.outcome }
            state = again
        }
        steps = state.steps
        outcome = state.outcome ?? .accept
        zone = state.zone
        mark = state.mark
        unknowns = state.unknowns.sorted()
    }

    /// The packet as it arrives on lo, or nil when it leaves through another interface.
    static func arrival(of connection: Connection, after outcome: Outcome?) -> Connection? {
        var arrival = connection
        arrival.direction = .inbound
        arrival.interface = "lo"
        arrival.uid = nil
        arrival.gid = nil
        if case .redirect(let port) = outcome {
            // REDIRECT of a packet made here sends it to the loopback address of its family.
            arrival.destination = connection.family == .ipv4 ? .v4(0x7f00_0001) : .v6(1)
            arrival.destinationPort = port
            return arrival
        }
        return connection.effectiveInterface == "lo" ? arrival : nil
    }

    /// The walk so far: the steps, the marks and zone set on the way, and the outcome once one
    /// rule decides it.
    struct State {
        let connection: Connection
        let resolve: (String, Bool) -> UInt32?
        var steps: [Step] = []
        var outcome: Outcome?
        var mark: UInt32 = 0
        var connectionMark: UInt32 = 0
        var zone: UInt16?
        var unknowns = Set<String>()
        /// Conntrack already has the packet (it came back over lo): CT rules leave it alone.
        var tracked = false

        init(connection: Connection, resolve: @escaping (String, Bool) -> UInt32?) {
            self.connection = connection
            self.resolve = resolve
        }

        enum Next { case `continue`, stop }

        /// The hook's base chains in priority order (`TableKind.priority(at:)`, for both
        /// backends). A packet arriving on lo was made here: its NAT was settled at OUTPUT, and
        /// conntrack does not consult nat PREROUTING for it again.
        mutating func walk(_ ruleset: Ruleset, at hook: Hook) {
            let looped = connection.direction == .inbound && connection.effectiveInterface == "lo"
            for kind in TableKind.allCases.sorted(by: { $0.priority(at: hook) < $1.priority(at: hook) }) where !(looped && kind == .nat) {
                guard ruleset.layout.carries(connection.family), let table = ruleset.table(kind), table.chain(.builtin(hook)) != nil else { continue }
                if run(table, from: ChainName.builtin(hook)) == .stop { return }
            }
        }

        /// One table at the hook, from its base chain: the verdict ends the table (accept) or the
        /// walk (drop, redirect, tproxy).
        mutating func run(_ table: Table, from start: ChainName) -> Next {
            var stack: [(chain: Chain, next: Int)] = []
            guard var chain = table.chain(start) else { return .continue }
            var index = 0
            // Jumps only go forward into regular chains; a bound keeps a malformed model finite.
            for _ in 0..<10_000 {
                guard index < chain.rules.count else {
                    steps.append(Step(table: table.kind, chain: chain.name, rule: nil, index: nil))
                    guard let caller = stack.popLast() else { return .continue }
                    (chain, index) = (caller.chain, caller.next)
                    continue
                }
                let rule = chain.rules[index]
                guard matches(rule) else {
                    index += 1
                    continue
                }
                steps.append(Step(table: table.kind, chain: chain.name, rule: rule, index: index))
                switch rule.target {
                case .accept:
                    return .continue
                case .drop:
                    outcome = .drop
                    return .stop
                case .return:
                    guard let caller = stack.popLast() else { return .continue }
                    (chain, index) = (caller.chain, caller.next)
                case .jump(let name):
                    guard let target = table.chain(name) else { index += 1; continue }
                    stack.append((chain, index + 1))
                    (chain, index) = (target, 0)
                case .redirect(let port):
                    // A packet TPROXY already gave a socket goes to that socket whatever nat does.
                    if outcome == nil { outcome = .redirect(port) }
                    return .stop
                case .tproxy(let port, let tproxyMark):
                    // TPROXY accepts the packet for this table only: nat still sees it.
                    mark = tproxyMark
                    outcome = .tproxy(port)
                    return .continue
                case .setMark(let value):
                    mark = value
                    index += 1
                case .saveMarkToConnection:
                    connectionMark = mark
                    index += 1
                case .restoreMarkFromConnection:
                    mark = connectionMark
                    index += 1
                case .conntrackZone(let value):
                    // The first zone sticks: once a CT rule (iptables' CT, nft's `ct zone set`)
                    // has attached a template to the packet, later ones leave it alone.
                    if zone == nil && !tracked { zone = value }
                    index += 1
                case .log:
                    // Logged (the step shows the prefix), and on to the next rule.
                    index += 1
                }
            }
            return .continue
        }

        mutating func matches(_ rule: Rule) -> Bool {
            for match in rule.matches {
                if let missing = unknown(match) { unknowns.insert(missing) }
                guard holds(match) else { return false }
            }
            return true
        }

        /// What a match tests that the connection left open.
        func unknown(_ match: Match) -> String? {
            let c = connection
            switch match {
            case .socketUser where c.direction == .outbound && c.uid == nil: return "the socket's owner (--uid)"
            case .socketGroup where c.direction == .outbound && c.gid == nil: return "the socket's group (--gid)"
            case .outInterface where c.direction == .outbound && c.effectiveInterface == nil: return "the output interface (taken as not lo: give --iface lo for this host's own addresses)"
            case .inInterface where c.direction == .inbound && c.effectiveInterface == nil: return "the input interface (--iface)"
            case .source(let prefix, _) where c.source == nil && prefix.family == c.family: return "the source address (--src)"
            case .sourceSet(let set) where c.source == nil && set.family == c.family: return "the source address (--src)"
            case .sourcePort(let proto, _, _) where c.sourcePort == nil && proto == c.proto: return "the source port (--src ADDRESS:PORT)"
            default: return nil
            }
        }

        func holds(_ match: Match) -> Bool {
            let c = connection
            func address(_ prefix: Prefix, _ candidate: IPAddress?, negated: Bool) -> Bool {
                // A rule for the other family (nft's `ip daddr` on an IPv6 packet) never matches.
                guard prefix.family == c.family else { return false }
                guard let candidate else { return negated }
                return prefix.contains(candidate) != negated
            }
            func port(_ proto: L4Protocol, _ ports: [Port], _ value: Port?, negated: Bool) -> Bool {
                guard proto == c.proto else { return false }
                guard let value else { return negated }
                return ports.contains(value) != negated
            }
            func owner(_ owner: Owner, _ id: UInt32?, group: Bool, negated: Bool) -> Bool {
                // Only a local socket has an owner; a forwarded or incoming packet matches neither way.
                guard c.direction == .outbound, let id else { return false }
                return (owner.id(isGroup: group, resolve: resolve) == id) != negated
            }
            switch match {
            case .l4proto(let proto): return c.proto == proto
            case .source(let prefix, let negated): return address(prefix, c.source, negated: negated)
            case .destination(let prefix, let negated): return address(prefix, c.destination, negated: negated)
            case .destinationSet(let set):
                return set.family == c.family && set.prefixes.contains { $0.contains(c.destination) }
            case .sourceSet(let set):
                return set.family == c.family && set.prefixes.contains { address($0, c.source, negated: false) }
            case .inInterface(let name): return c.direction == .inbound && c.effectiveInterface == name
            case .outInterface(let name): return c.direction == .outbound && c.effectiveInterface == name
            case .destinationPort(let proto, let ports, let negated): return port(proto, ports, c.destinationPort, negated: negated)
            case .sourcePort(let proto, let ports, let negated): return port(proto, ports, c.sourcePort, negated: negated)
            case .destinationPortSet(let proto, let set): return proto == c.proto && set.ports.contains(c.destinationPort)
            case .socketUser(let who, let negated): return owner(who, c.uid, group: false, negated: negated)
            case .socketGroup(let who, let negated): return owner(who, c.gid, group: true, negated: negated)
            case .mark(let value, let negated): return (mark == value) != negated
            case .connmark(let value): return connectionMark == value
            // The first packet of a connection is NEW.
            case .conntrackState(let states): return states.contains(.new)
            // The first packet of a connection made by hand is within any rate.
            case .rateLimit: return true
            }
        }
    }
}
