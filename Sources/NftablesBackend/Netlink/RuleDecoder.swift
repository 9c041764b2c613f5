import CNftnl
import MeshCapture

/// Reads expressions back into the typed model: the inverse of the statement encoding.
///
/// Decoded rules come out in canonical form: an `meta l4proto` check that only serves the port
/// match right after it is folded into that match, as nft's own listing does (the two spellings
/// compile to the same bytecode), and conntrack states in nft's order. `canonical(_:resolve:)` puts a model rule in that form for comparison.
public enum RuleDecoder {
    /// What a set a rule looks up holds, from a set-element dump.
    public enum SetContents: Sendable, Hashable {
        /// An anonymous set's ports (`{ 53, 15008 }`).
        case ports([Port])
        /// One of meshcap's named sets (`@outbound-exclude-ipv4`, `@inbound-include-ports`).
        case named(NamedSet)
    }

    /// The sets of a table by name ("__set0", "outbound-exclude-ipv4").
    public typealias Sets = [String: SetContents]

    /// Also resolves owner names: the kernel keeps only numbers.
    public static func canonical(_ rule: Rule, resolve: OwnerResolver) -> Rule {
        var matches: [Match] = []
        for (index, match) in rule.matches.enumerated() {
            if case .l4proto(let proto) = match, index + 1 < rule.matches.count, rule.matches[index + 1].portProtocol == proto {
                continue
            }
            switch match {
            case .socketUser(let owner, let negated): matches.append(.socketUser(owner.numeric(isGroup: false, resolve: resolve), negated: negated))
            case .socketGroup(let owner, let negated): matches.append(.socketGroup(owner.numeric(isGroup: true, resolve: resolve), negated: negated))
            // States are bits in the kernel: their order is nft's.
            case .conntrackState(let states): matches.append(.conntrackState(states.sorted()))
            default: matches.append(match)
            }
        }
        return Rule(matches: matches, target: rule.target)
    }

    /// A canonical rule as `nft list` prints it, which says less than the kernel holds: nft leaves
    /// out a `meta l4proto` check that a later port match of that protocol depends on, wherever
    /// it stands, so the text cannot tell whether or where the rule had one. Rules read from that
    /// text, and the config's compared with them, are in this form.
    public static func listed(_ rule: Rule) -> Rule {
        var matches: [Match] = []
        for (index, match) in rule.matches.enumerated() {
            if case .l4proto(let proto) = match, rule.matches[(index + 1)...].contains(where: { $0.portProtocol == proto }) { continue }
            matches.append(match)
        }
        return Rule(matches: matches, target: rule.target)
    }

    /// The rule these expressions implement, or nil for bytecode meshcap does not write.
    ///
    /// Exact: the rule read is encoded again and must give these very expressions (counter
    /// values and set names aside, set contents compared), so an operator, a register, a length or
    /// a verdict meshcap would not have written makes the rule somebody else's.
    public static func decode(_ expressions: [NftExpression], sets: Sets) -> Rule? {
        guard let candidate = read(expressions, sets: sets) else { return nil }
        var context = EncodingContext(nextSetID: 1, resolve: { _, _ in nil })
        guard let encoded = try? NftStatement.of(candidate).flatMap({ try $0.expressions(&context) }) else { return nil }
        let encodedSets = Dictionary(context.sets.map { ($0.id, SetContents.ports($0.ports)) }, uniquingKeysWith: { first, _ in first })
        // An anonymous set is named by its id when sent; a named set by its name either way.
        var mine = encoded.map { normalized($0) { lookup in lookup.setID.flatMap { encodedSets[$0] } ?? sets[lookup.set] } }
        let theirs = expressions.map { normalized($0) { lookup in sets[lookup.set] } }
        // A rule with no counter at all (Istio's until istio/istio#57216) is the same rule,
        // uncounted (`DumpedRule.counted`).
        if !theirs.contains(.counter(Counter())) { mine.removeAll { $0 == .counter(Counter()) } }
        return mine == theirs ? candidate : nil
    }

    /// An expression with what differs between a sent and a read-back rule taken out: counter
    /// values, and an anonymous set's name and id (its ports stand in for it). A named set is
    /// its name: the rule read back looks up the very set it was read with.
    private static func normalized(_ expression: NftExpression, contents: (Lookup) -> SetContents?) -> NftExpression {
        switch expression {
        case .counter: return .counter(Counter())
        case .lookup(let lookup):
            let described = switch contents(lookup) {
            case .ports(let ports)?: ports.map(String.init).joined(separator: ",")
            case .named(let set)?: "@\(set.name)"
            case nil: "?"
            }
            return .lookup(Lookup(lookup.register, set: described, setID: nil, inverted: lookup.inverted))
        default: return expression
        }
    }

    /// The rule the expressions look like, read structurally; `decode` checks it exactly.
    private static func read(_ expressions: [NftExpression], sets: Sets) -> Rule? {
        var reader = Reader(expressions: expressions)
        var matches: [Match] = []
        var family: Family?
        var transport: L4Protocol?
        while let expression = reader.peek {
            switch expression {
            case .meta(let meta) where meta.transfer == .load(into: Register.one):
                // `meta load mark` straight into a store is the save-mark target, not a match.
                if reader.peek(1).map(isStore) == true { return target(&reader, matches) }
                guard case .cmp(let cmp)? = reader.peek(1) else { return nil }
                reader.skip(2)
                switch meta.key {
                case Meta.networkProtocol: family = cmp.data.first == UInt8(NFPROTO_IPV6) ? .ipv6 : .ipv4
                case Meta.transportProtocol:
                    transport = cmp.data.first == UInt8(IPPROTO_UDP) ? .udp : .tcp
                    if case .payload(let payload)? = reader.peek, payload.base == Payload.transportHeader { continue }
                    matches.append(.l4proto(transport ?? .tcp))
                case Meta.inInterfaceName: matches.append(.inInterface(name(cmp.data)))
                case Meta.outInterfaceName: matches.append(.outInterface(name(cmp.data)))
                case Meta.socketUser: matches.append(.socketUser(.id(hostU32(cmp.data)), negated: !cmp.equal))
                case Meta.socketGroup: matches.append(.socketGroup(.id(hostU32(cmp.data)), negated: !cmp.equal))
                case Meta.mark: matches.append(.mark(hostU32(cmp.data), negated: !cmp.equal))
                default: return nil
                }
            case .payload(let payload) where payload.base == Payload.networkHeader:
                guard let family else { return nil }
                reader.skip(1)
                let isSource = payload.offset == (family == .ipv4 ? 12 : 8)
                if case .lookup(let lookup)? = reader.peek {
                    guard case .named(.prefixes(let set))? = sets[lookup.set], set.family == family else { return nil }
                    reader.skip(1)
                    matches.append(isSource ? .sourceSet(set) : .destinationSet(set))
                    continue
                }
                var length = Int(payload.length) * 8
                if case .bitwise(let bitwise)? = reader.peek {
                    length = bitwise.mask.reduce(0) { $0 + $1.nonzeroBitCount }
                    reader.skip(1)
                }
                guard case .cmp(let cmp)? = reader.peek else { return nil }
                reader.skip(1)
                let width = family == .ipv4 ? 4 : 16
                let bytes = cmp.data + [UInt8](repeating: 0, count: max(0, width - cmp.data.count))
                let address: IPAddress = family == .ipv4
                    ? .v4(bytes.prefix(4).reduce(0) { $0 << 8 | UInt32($1) })
                    : .v6(bytes.prefix(16).reduce(0) { $0 << 8 | UInt128($1) })
                guard let prefix = try? Prefix(network: address, length: length) else { return nil }
                matches.append(isSource ? .source(prefix, negated: !cmp.equal) : .destination(prefix, negated: !cmp.equal))
            case .payload(let payload) where payload.base == Payload.transportHeader && payload.length == 2:
                reader.skip(1)
                let proto = transport ?? .tcp
                let ports: [Port], negated: Bool
                switch reader.peek {
                case .cmp(let cmp)?:
                    guard let port = bigEndianPort(cmp.data) else { return nil }
                    ports = [port]
                    negated = !cmp.equal
                case .lookup(let lookup)?:
                    if case .named(.ports(let set))? = sets[lookup.set] {
                        reader.skip(1)
                        matches.append(.destinationPortSet(proto, set))
                        continue
                    }
                    guard case .ports(let listed)? = sets[lookup.set] else { return nil }
                    ports = listed
                    negated = lookup.inverted
                default:
                    return nil
                }
                reader.skip(1)
                matches.append(payload.offset == 0 ? .sourcePort(proto, ports, negated: negated) : .destinationPort(proto, ports, negated: negated))
            case .ct(let ct) where ct.key == Conntrack.state:
                guard case .bitwise(let bitwise)? = reader.peek(1), case .cmp? = reader.peek(2) else { return nil }
                reader.skip(3)
                let bits = hostU32(bitwise.mask)
                matches.append(.conntrackState(ConntrackState.allCases.filter { bits & $0.bit != 0 }))
            case .ct(let ct) where ct.key == Conntrack.mark && ct.transfer == .load(into: Register.one):
                guard case .cmp(let cmp)? = reader.peek(1) else { return target(&reader, matches) }
                reader.skip(2)
                matches.append(.connmark(hostU32(cmp.data)))
            case .limit(let limit) where limit.burst == 5:
                guard let perSecond = UInt32(exactly: limit.perSecond), perSecond > 0 else { return nil }
                reader.skip(1)
                matches.append(.rateLimit(perSecond: perSecond))
            default:
                return target(&reader, matches)
            }
        }
        return nil
    }

    /// The statements after the matches: a counter somewhere, and one target.
    private static func target(_ reader: inout Reader, _ matches: [Match]) -> Rule? {
        let rest = Array(reader.remaining.filter { if case .counter = $0 { false } else { true } })
        func data(_ index: Int) -> [UInt8]? {
            guard case .immediate(let immediate) = rest[index], case .data(let bytes) = immediate.value else { return nil }
            return bytes
        }
        let target: Target
        switch rest.map(\.name) {
        case ["immediate"]:
            guard case .immediate(let immediate) = rest[0], case .verdict(let code, let chain) = immediate.value else { return nil }
            switch code {
            case Immediate.accept: target = .accept
            case Immediate.drop: target = .drop
            case Immediate.return: target = .return
            case Immediate.jump: target = .jump(chainName(chain ?? ""))
            default: return nil
            }
        case ["immediate", "redir"]:
            guard let port = data(0).flatMap(bigEndianPort) else { return nil }
            target = .redirect(toPort: port)
        case ["immediate", "tproxy", "immediate", "meta", "immediate"]:
            guard let port = data(0).flatMap(bigEndianPort), let mark = data(2) else { return nil }
            target = .tproxy(toPort: port, mark: hostU32(mark))
        case ["immediate", "meta"]:
            guard let mark = data(0) else { return nil }
            target = .setMark(hostU32(mark))
        case ["meta", "ct"]:
            target = .saveMarkToConnection
        case ["ct", "meta"]:
            target = .restoreMarkFromConnection
        case ["immediate", "ct"]:
            guard let zone = data(0), zone.count == 2 else { return nil }
            target = .conntrackZone(UInt16(zone[0]) | UInt16(zone[1]) << 8)
        case ["log"]:
            guard case .log(let log) = rest[0] else { return nil }
            target = .log(prefix: log.prefix, group: log.group)
        default:
            return nil
        }
        return Rule(matches: matches, target: target)
    }

    private struct Reader {
        let expressions: [NftExpression]
        var position = 0
        var peek: NftExpression? { peek(0) }
        func peek(_ ahead: Int) -> NftExpression? {
            expressions.indices.contains(position + ahead) ? expressions[position + ahead] : nil
        }
        mutating func skip(_ count: Int) { position += count }
        var remaining: ArraySlice<NftExpression> { expressions[min(position, expressions.count)...] }
    }

    private static func isStore(_ expression: NftExpression) -> Bool {
        if case .ct(let ct) = expression, case .store = ct.transfer { return true }
        return false
    }

    private static func name(_ bytes: [UInt8]) -> String { String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self) }
    private static func hostU32(_ bytes: [UInt8]) -> UInt32 {
        bytes.prefix(4).enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * $1.offset) }
    }
    private static func bigEndianPort(_ bytes: [UInt8]) -> Port? {
        bytes.count == 2 ? Port(bytes[0]) << 8 | Port(bytes[1]) : nil
    }

    /// The model's name for an nft chain name: a hook's base chain, or Istio's upper-case name.
    static func chainName(_ nftName: String) -> ChainName {
        if let hook = Hook(rawValue: nftName) { return .builtin(hook) }
        return .regular(nftName.uppercased().replacingOccurrences(of: "-", with: "_"))
    }
}
