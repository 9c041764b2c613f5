import MeshCapture

/// `explain`'s output: the path a connection's first packet takes through meshcap's rules, each
/// rule in the chosen backend's own syntax, and where it ends up.
public struct ExplainReport: Sendable {
    public struct Step: Sendable {
        /// "nat", or nft's "istio-proxy-nat".
        public let table: String
        public let chain: String
        /// The rule that matched as the backend writes it, and its 1-based position; nil when
        /// the chain ended (a return to its caller, or the policy of a base chain).
        public let rule: String?
        public let position: Int?
        /// A base chain: when it ends, its policy (accept) applies.
        public let base: Bool

        public init(table: String, chain: String, rule: String?, position: Int?, base: Bool) {
            self.table = table
            self.chain = chain
            self.rule = rule
            self.position = position
            self.base = base
        }
    }

    public let connection: Connection
    public let source: String
    public let steps: [Step]
    public let walk: PacketWalk
    /// What the config's ports are for ("Envoy's outbound listener").
    public let portRoles: [Port: String]

    public init(connection: Connection, source: String, steps: [Step], walk: PacketWalk, portRoles: [Port: String]) {
        self.connection = connection
        self.source = source
        self.steps = steps
        self.walk = walk
        self.portRoles = portRoles
    }

    var verdict: String {
        switch walk.outcome {
        case .redirect: "redirect"
        case .tproxy: "tproxy"
        case .accept: "accept"
        case .drop: "drop"
        }
    }

    var port: Port? {
        switch walk.outcome {
        case .redirect(let port), .tproxy(let port): port
        case .accept, .drop: nil
        }
    }

    var sentence: String {
        let role = port.flatMap { portRoles[$0] }.map { " (\($0))" } ?? ""
        return switch walk.outcome {
        case .redirect(let port): "redirected to port \(port)\(role)"
        case .tproxy(let port): "delivered by TPROXY to port \(port)\(role), mark \(walk.mark) (a transparent socket must listen there: without one iptables drops the packet, and nft lets it through to the app)"
        case .accept: "untouched: it goes to \(Self.endpoint(connection.destination, connection.destinationPort)) as addressed"
        case .drop: "dropped"
        }
    }

    static func endpoint(_ address: IPAddress, _ port: Port) -> String {
        address.family == .ipv4 ? "\(address):\(port)" : "[\(address)]:\(port)"
    }

    var what: String {
        let c = connection
        var words = ["\(c.direction.rawValue) \(c.proto.rawValue)"]
        if let source = c.source { words.append("from \(c.sourcePort.map { Self.endpoint(source, $0) } ?? source.description)") }
        words.append("to \(Self.endpoint(c.destination, c.destinationPort))")
        if let uid = c.uid { words.append("uid \(uid)") }
        if let gid = c.gid { words.append("gid \(gid)") }
        if let interface = c.effectiveInterface { words.append("\(c.direction == .outbound ? "out" : "in") \(interface)") }
        return words.joined(separator: " ")
    }

    public var text: String {
        var lines = ["meshcap explain: \(what) (\(source))"]
        for step in steps {
            if let rule = step.rule, let position = step.position {
                lines.append("  \(step.table) \(step.chain) #\(position): \(rule)")
            } else {
                lines.append("  \(step.table) \(step.chain): end of chain, \(step.base ? "policy accept" : "back to the caller")")
            }
        }
        if let zone = walk.zone { lines.append("  conntrack zone \(zone)") }
        lines.append("outcome: \(sentence)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Schema `meshcap.explain/v1`: { "schema", "connection": {…}, "source", "path": [{ "table",
    /// "chain", "rule" (null when none matched), "position" }], "zone", "outcome": { "verdict":
    /// redirect|tproxy|accept|drop, "port" (redirect and tproxy) } }.
    public var json: String {
        let c = connection
        var connectionFields: [(String, JSON)] = [("direction", .string(c.direction.rawValue)), ("protocol", .string(c.proto.rawValue)),
                                                 ("destination", .string(c.destination.description)), ("port", .number(UInt64(c.destinationPort)))]
        if let source = c.source { connectionFields.append(("source", .string(source.description))) }
        if let port = c.sourcePort { connectionFields.append(("source_port", .number(UInt64(port)))) }
        if let uid = c.uid { connectionFields.append(("uid", .number(UInt64(uid)))) }
        if let gid = c.gid { connectionFields.append(("gid", .number(UInt64(gid)))) }
        if let interface = c.effectiveInterface { connectionFields.append(("interface", .string(interface))) }
        var outcome: [(String, JSON)] = [("verdict", .string(verdict))]
        if let port { outcome.append(("port", .number(UInt64(port)))) }
        let value: JSON = .object([
            ("schema", .string("meshcap.explain/v1")),
            ("connection", .object(connectionFields)),
            ("source", .string(source)),
            ("path", .array(steps.map { step in
                .object([("table", .string(step.table)), ("chain", .string(step.chain)),
                         ("rule", step.rule.map { .string($0) } ?? .null), ("position", step.position.map { .number(UInt64($0)) } ?? .null)])
            })),
            ("zone", walk.zone.map { .number(UInt64($0)) } ?? .null),
            ("outcome", .object(outcome)),
        ])
        return value.text + "\n"
    }
}
