import MeshCapture

/// `nft -j list ruleset`: `{"nftables": [{"metainfo": ...}, {"table": ...}, {"chain": ...},
/// {"rule": {..., "expr": [...]}}, ...]}` (libnftables-json(5)). Each statement object is read
/// into the same `NftStatement`s as nft's text. The sets of meshcap's tables are read with their
/// elements' counters; objects of other kinds (maps, flowtables, stateful objects) and other
/// tables' sets are passed over.
public enum NftJSON {
    static let allowed = "what nft -j list ruleset prints: {\"nftables\": [{\"metainfo\": ...}, {\"table\": ...}, {\"chain\": ...}, {\"rule\": ...}, ...]}"

    /// The rules, chains and what runs ahead, as a live nft host reads them; `source` is what the
    /// report calls the reading ("nft -j list ruleset (vm1.json)").
    public static func read(_ dump: DumpText, source: String) throws(DumpError) -> CounterReading {
        let text = dump.lines.joined(separator: "\n")
        let root: JSONValue
        do {
            root = try JSONValue.parse(text)
        } catch {
            throw dump.error(error.line, "not JSON: \(error.problem) (column \(error.column))".escapedForTerminal, allowed: allowed)
        }
        let bytes = Array(text.utf8)
        guard let items = root["nftables"]?.array else { throw dump.error(root.line, "no \"nftables\" list", allowed: allowed) }
        var ruleset = NftDump()
        var declared = Set<[String]>()
        for item in items {
            func fail(_ problem: String) -> DumpError { dump.error(item.line, problem, allowed: allowed) }
            guard let (kind, body) = item.single else { throw fail("an entry of the \"nftables\" list that is not an object with one member") }
            switch kind {
            case "chain":
                guard let family = body["family"]?.string, let table = body["table"]?.string, let name = body["name"]?.string else {
                    throw fail("a chain without its family, table and name")
                }
                var base: (type: String, hook: Hook?, priority: Int32?)?
                if let type = body["type"]?.string {
                    guard let hook = body["hook"]?.string, let priority = body["prio"]?.signed else { throw fail("base chain \(name) without its hook and prio") }
                    base = (type, Hook(rawValue: hook), Int32(exactly: priority))
                }
                declared.insert([family, table, name])
                ruleset.chains.append(NftDump.Chain(family: family, table: table, name: name, base: base))
            case "set":
                guard let family = body["family"]?.string, let table = body["table"]?.string, let name = body["name"]?.string else {
                    throw fail("a set without its family, table and name")
                }
                guard family == "inet", NftDump.meshcapTables.contains(table) else { continue }
                // Each element a value, or {"elem": {"val": VALUE, "counter": {...}}}.
                var listed: [(element: SetElement?, counter: (packets: UInt64, bytes: UInt64)?)] = []
                for entry in body["elem"]?.array ?? [] {
                    let value = entry["elem"]?["val"] ?? entry
                    let element: SetElement? = value.unsigned.map { $0 > 0 ? Port(exactly: $0).map(SetElement.port) : nil } ?? prefix(value).map(SetElement.prefix)
                    guard let counter = entry["elem"]?["counter"], let packets = counter["packets"], let octets = counter["bytes"] else {
                        listed.append((element, nil))
                        continue
                    }
                    let shown = String(decoding: bytes[counter.range], as: UTF8.self)
                    let fail = { (problem: String) in dump.error(counter.line, problem, allowed: allowed) }
                    listed.append((element, (try DumpCount.read(packets, "packet", in: shown, fail), try DumpCount.read(octets, "byte", in: shown, fail))))
                }
                ruleset.sets["\(table) \(name)"] = NftDump.listedSet(name: name, type: body["type"]?.string ?? "", entries: listed)
            case "rule":
                guard let family = body["family"]?.string, let table = body["table"]?.string, let chain = body["chain"]?.string,
                      let expressions = body["expr"], let list = expressions.array else {
                    throw fail("a rule without its family, table, chain and expr")
                }
                guard declared.contains([family, table, chain]) else { throw fail("a rule of chain \(family) \(table) \(chain), which is not listed before it") }
                var statements: [NftStatement]? = []
                // nil: the rule has no counter (it counts nothing, which is not zero).
                var counter: (packets: UInt64, bytes: UInt64)?
                for expression in list {
                    guard let (name, value) = expression.single else { throw dump.error(expression.line, "an expression that is not an object with one member", allowed: allowed) }
                    if name == "counter" {
                        guard let packets = value["packets"], let octets = value["bytes"] else {
                            // A named counter's values are kept in its object; a bare one is a stateless listing.
                            if value.string != nil { statements = nil; continue }
                            throw dump.error(expression.line, "a counter without its packets and bytes: list without -s (stateless)", allowed: allowed)
                        }
                        let shown = String(decoding: bytes[value.range], as: UTF8.self)
                        let fail = { (problem: String) in dump.error(value.line, problem, allowed: allowed) }
                        counter = (try DumpCount.read(packets, "packet", in: shown, fail), try DumpCount.read(octets, "byte", in: shown, fail))
                    }
                    let statement = Self.statement(name, value, sets: ruleset.sets(in: table))
                    statements = statement.flatMap { one in statements.map { $0 + [one] } }
                }
                ruleset.rules.append(NftDump.Rule(family: family, table: table, chain: chain, statements: statements,
                                                  text: String(decoding: bytes[expressions.range], as: UTF8.self),
                                                  packets: counter?.packets ?? 0, bytes: counter?.bytes ?? 0, counted: counter != nil))
            default:
                // metainfo, table, and other tables' sets, maps, elements and objects.
                continue
            }
        }
        return ruleset.reading(source: source)
    }

    /// One statement object in meshcap's terms; nil for one meshcap does not write.
    static func statement(_ name: String, _ value: JSONValue, sets: [String: NamedSet]) -> NftStatement? {
        switch name {
        case "match": return match(value, sets: sets)
        case "counter": return .counter
        case "accept": return value.isNull ? .verdict(.accept) : nil
        case "drop": return value.isNull ? .verdict(.drop) : nil
        case "return": return value.isNull ? .verdict(.return) : nil
        case "jump": return value["target"]?.string.map { .verdict(.jump(RuleDecoder.chainName($0))) }
        case "redirect":
            guard let port = value["port"].flatMap(port), value.single != nil else { return nil }
            return .redirect(port)
        case "tproxy":
            // {"family": "ip", "port": 15006}: a port only, no address.
            guard let port = value["port"].flatMap(port), value["addr"] == nil else { return nil }
            let family: Family?
            switch value["family"]?.string {
            case "ip"?: family = .ipv4
            case "ip6"?: family = .ipv6
            case nil: family = nil
            default: return nil
            }
            return .tproxy(port, family)
        case "limit":
            // {"rate": 10, "burst": 5, "per": "second"}: packets (bytes carry "rate_unit").
            guard let rate = value["rate"]?.unsigned, let perSecond = UInt32(exactly: rate), perSecond > 0,
                  value["per"]?.string == "second", value["burst"].map({ $0.unsigned == 5 }) ?? true,
                  value["rate_unit"] == nil, value["inv"] == nil else { return nil }
            return .match(.rateLimit(perSecond: perSecond))
        case "log":
            // {"prefix": "meshcap in capture: ", "group": 5}; a level or flags are not meshcap's.
            guard let prefix = value["prefix"]?.string, value["level"] == nil, value["flags"] == nil,
                  value["snaplen"] == nil, value["queue-threshold"] == nil else { return nil }
            guard let group = value["group"] else { return .log(prefix: prefix, group: nil) }
            return group.unsigned.flatMap { UInt16(exactly: $0) }.map { .log(prefix: prefix, group: $0) }
        case "mangle":
            guard let key = value["key"], let new = value["value"] else { return nil }
            switch (key.selector, new.selector) {
            case ("meta mark"?, "ct mark"?): return .connectionToMark
            case ("ct mark"?, "meta mark"?): return .markToConnection
            case ("meta mark"?, nil): return new.unsigned.flatMap { UInt32(exactly: $0) }.map { .setMark($0) }
            case ("ct zone"?, nil): return new.unsigned.flatMap { UInt16(exactly: $0) }.map { .zone($0) }
            default: return nil
            }
        default: return nil
        }
    }

    /// {"op": "==" | "!=" | "in", "left": what is looked at, "right": the value}.
    static func match(_ value: JSONValue, sets: [String: NamedSet]) -> NftStatement? {
        guard let op = value["op"]?.string, let left = value["left"], let right = value["right"], let selector = left.selector else { return nil }
        // "@NAME": a named set of the table.
        if let reference = right.string, reference.hasPrefix("@") {
            guard op == "==" else { return nil }
            switch (selector, sets[String(reference.dropFirst())]) {
            case ("ip daddr", .prefixes(let set)?) where set.family == .ipv4, ("ip6 daddr", .prefixes(let set)?) where set.family == .ipv6:
                return .match(.destinationSet(set))
            case ("ip saddr", .prefixes(let set)?) where set.family == .ipv4, ("ip6 saddr", .prefixes(let set)?) where set.family == .ipv6:
                return .match(.sourceSet(set))
            case ("tcp dport", .ports(let set)?): return .match(.destinationPortSet(.tcp, set))
            case ("udp dport", .ports(let set)?): return .match(.destinationPortSet(.udp, set))
            default: return nil
            }
        }
        let negated: Bool
        switch op {
        case "==": negated = false
        case "!=": negated = true
        case "in" where selector == "ct state": negated = false
        default: return nil
        }
        let match: Match?
        switch selector {
        case "meta l4proto": match = negated ? nil : transport(right).map { .l4proto($0) }
        case "meta iifname": match = negated ? nil : right.string.map { .inInterface($0) }
        case "meta oifname": match = negated ? nil : right.string.map { .outInterface($0) }
        case "meta skuid": match = owner(right).map { .socketUser($0, negated: negated) }
        case "meta skgid": match = owner(right).map { .socketGroup($0, negated: negated) }
        case "meta mark": match = right.unsigned.flatMap { UInt32(exactly: $0) }.map { .mark($0, negated: negated) }
        case "ct mark": match = negated ? nil : right.unsigned.flatMap { UInt32(exactly: $0) }.map { .connmark($0) }
        case "ct state":
            let names = right.array?.map(\.string) ?? [right.string]
            let states = names.map { $0.flatMap(ConntrackState.init) }
            match = negated || states.isEmpty || states.contains(nil) ? nil : .conntrackState(states.compactMap { $0 })
        case "ip saddr", "ip daddr", "ip6 saddr", "ip6 daddr":
            guard let prefix = prefix(right), prefix.family == (selector.hasPrefix("ip6") ? .ipv6 : .ipv4) else { return nil }
            match = selector.hasSuffix("saddr") ? .source(prefix, negated: negated) : .destination(prefix, negated: negated)
        case "tcp dport", "tcp sport", "udp dport", "udp sport":
            let values = right["set"]?.array ?? [right]
            let ports = values.compactMap(port)
            guard !ports.isEmpty, ports.count == values.count else { return nil }
            let proto: L4Protocol = selector.hasPrefix("tcp") ? .tcp : .udp
            match = selector.hasSuffix("dport") ? .destinationPort(proto, ports, negated: negated) : .sourcePort(proto, ports, negated: negated)
        default:
            return nil
        }
        return match.map { .match($0) }
    }

    static func transport(_ value: JSONValue) -> L4Protocol? {
        switch value.string ?? value.unsigned.map(String.init) {
        case "tcp", "6": .tcp
        case "udp", "17": .udp
        default: nil
        }
    }

    static func port(_ value: JSONValue) -> Port? {
        value.unsigned.flatMap { $0 > 0 ? Port(exactly: $0) : nil }
    }

    /// A number, or the name nft printed for it (the saving host knew the account).
    static func owner(_ value: JSONValue) -> Owner? {
        if let id = value.unsigned { return UInt32(exactly: id).map { .id($0) } }
        return value.string.flatMap { $0.isEmpty ? nil : .name($0) }
    }

    /// "10.96.0.1" or {"prefix": {"addr": "10.96.0.0", "len": 12}}.
    static func prefix(_ value: JSONValue) -> Prefix? {
        if let text = value.string { return try? Prefix.parse(Substring(text)) }
        guard let inner = value["prefix"], let address = inner["addr"]?.string.flatMap(IPAddress.init), let length = inner["len"]?.unsigned,
              length <= UInt64(address.width) else { return nil }
        return try? Prefix(network: address, length: Int(length))
    }
}

extension JSONValue {
    /// What an expression looks at, as nft's text names it: {"meta": {"key": "mark"}} is
    /// "meta mark", {"payload": {"protocol": "tcp", "field": "dport"}} is "tcp dport".
    var selector: String? {
        guard let (kind, body) = single else { return nil }
        switch kind {
        case "meta", "ct": return body["key"]?.string.map { "\(kind) \($0)" }
        case "payload":
            guard let proto = body["protocol"]?.string, let field = body["field"]?.string else { return nil }
            return "\(proto) \(field)"
        default: return nil
        }
    }
}
