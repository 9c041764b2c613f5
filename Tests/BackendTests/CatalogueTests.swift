import IptablesBackend
import MeshCapture
import NftablesBackend
import Testing
import TestSupport

/// Every match and target the model has, through every renderer and back: what meshcap writes it
/// reads back as the same rule, and what it does not write it does not claim.
@Suite struct CatalogueTests {
    @Test func everyCaseHasAnExample() {
        let rules = Family.allCases.flatMap(Catalogue.rules)
        #expect(Set(rules.flatMap(\.matches).map(Catalogue.kind(of:))) == Set(Catalogue.MatchKind.allCases))
        #expect(Set(rules.map(\.target).map(Catalogue.kind(of:))) == Set(Catalogue.TargetKind.allCases))
    }

    @Test(arguments: Family.allCases)
    func iptablesWordsReadBackAsTheSameRule(_ family: Family) {
        for rule in Catalogue.rules(family) where !rule.matches.contains(where: { $0.namedSet != nil }) {
            for tagged in [false, true] {
                let words = IptablesRenderer.words(rule, family: family, tagged: tagged)
                let parsed = IptablesParser.rule(words, family: family)
                #expect(parsed?.rule == IptablesRenderer.canonical(rule) { _, _ in nil }, "\(words.joined(separator: " "))")
                #expect(parsed?.tagged == tagged)
            }
        }
    }

    @Test func nftExpressionsDecodeAsTheSameRule() throws {
        for rule in Family.allCases.flatMap(Catalogue.rules) {
            let expressions = try encode(rule)
            #expect(RuleDecoder.decode(expressions.code, sets: expressions.sets) == RuleDecoder.canonical(rule) { _, _ in nil },
                    "\(NftRenderer.statement(rule))")
        }
    }

    /// Lines another tool (or a hand) wrote, each one word away from meshcap's: none is read as
    /// meshcap's rule.
    @Test func iptablesLinesMeshcapDoesNotWriteAreNotClaimed() {
        let foreign = [
            "-A OUTPUT -p tcp -m mark --mark 0x539/0xff -j RETURN",
            "-A OUTPUT ! -i lo -j RETURN",
            "-A OUTPUT -j MARK --set-xmark 0x539/0xff",
            "-A OUTPUT -j TPROXY --on-port 15006 --on-ip 10.0.0.1 --tproxy-mark 0x539/0xffffffff",
            "-A OUTPUT -j CONNMARK --save-mark --nfmask 0xff --ctmask 0xffffffff",
            "-A OUTPUT -p tcp -m tcp --dport 8080:8090 -j RETURN",
            "-A OUTPUT -p tcp -m tcp --dport 80 --sport 1 -j RETURN",
            "-A OUTPUT -p icmp -j RETURN",
            "-A OUTPUT -p tcp -m udp --dport 53 -j RETURN",
            "-A OUTPUT -m comment --comment \"meshcap\" -m comment --comment meshcap -j RETURN",
            "-A OUTPUT -m comment --comment kube-proxy -j RETURN",
            "-A OUTPUT -p tcp -m mark --mark 1337 -j RETURN",
            "-A OUTPUT -j DOCKER",
            "-A OUTPUT -j REDIRECT --to-ports 15001-15002",
            "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
            "-A OUTPUT -d 10.0.0.1/8 -j RETURN",
            "-A OUTPUT -d fd00::/8 -j RETURN",
            "-A OUTPUT -j LOG",
        ]
        for line in foreign {
            let words = IptablesParser.words(line[...])
            #expect(IptablesParser.rule(Array(words.dropFirst(2)), family: .ipv4) == nil, "\(line) was read as meshcap's")
        }
    }

    /// Every single-field change to the bytecode of every catalogue rule: decoded either as
    /// nothing or as a rule that encodes to exactly the changed bytecode, never as the original.
    @Test func nftBytecodeMeshcapDoesNotWriteIsNotClaimed() throws {
        var checked = 0
        for rule in Family.allCases.flatMap(Catalogue.rules) {
            let (code, sets) = try encode(rule)
            for index in code.indices {
                for mutant in mutations(code[index]) {
                    var changed = code
                    changed[index] = mutant
                    checked += 1
                    guard let decoded = RuleDecoder.decode(changed, sets: sets) else { continue }
                    #expect(decoded != RuleDecoder.canonical(rule) { _, _ in nil }, "a change to expression \(index + 1) of \(NftRenderer.statement(rule)) still reads as it")
                    #expect(try encode(decoded).code == changed, "\(NftRenderer.statement(decoded)) was claimed for bytecode it does not encode to")
                }
            }
        }
        #expect(checked > 500)
    }

    func encode(_ rule: Rule) throws -> (code: [NftExpression], sets: RuleDecoder.Sets) {
        let ruleset = Ruleset(layout: .inet, tables: [Table(kind: .mangle, chains: [Chain(name: .output, rules: [rule])])])
        let batch = try NetlinkBatch.replacing(with: ruleset) { _, _ in nil }
        var sets: RuleDecoder.Sets = [:]
        var code: [NftExpression] = []
        for operation in batch.operations {
            if case .addElements(_, let set) = operation { sets["__set%d"] = .ports(set.ports) }
            if case .addNamedSet(_, let messages) = operation { sets[messages.set.name] = .named(messages.set) }
            if case .addRule(_, _, _, _, let expressions) = operation { code = expressions }
        }
        return (code, sets)
    }

    /// One field changed at a time: operators, registers, data bytes, lengths, keys, verdicts.
    func mutations(_ expression: NftExpression) -> [NftExpression] {
        func flipped(_ bytes: [UInt8]) -> [[UInt8]] { bytes.isEmpty ? [[1]] : [[bytes[0] ^ 0x01] + bytes.dropFirst(), bytes + [0]] }
        switch expression {
        case .cmp(let cmp):
            return [.cmp(Cmp(cmp.register, equal: !cmp.equal, cmp.data)), .cmp(Cmp(cmp.register + 1, equal: cmp.equal, cmp.data))]
                + flipped(cmp.data).map { .cmp(Cmp(cmp.register, equal: cmp.equal, $0)) }
        case .meta(let meta):
            return [.meta(Meta(meta.key + 1, meta.transfer))]
        case .payload(let payload):
            return [.payload(Payload(payload.base, offset: payload.offset + 1, length: payload.length, into: payload.register)),
                    .payload(Payload(payload.base, offset: payload.offset, length: payload.length + 1, into: payload.register))]
        case .bitwise(let bitwise):
            return flipped(bitwise.mask).map { .bitwise(Bitwise(bitwise.register, mask: $0)) }
        case .lookup(let lookup):
            return [.lookup(Lookup(lookup.register, set: lookup.set, setID: lookup.setID, inverted: !lookup.inverted))]
        case .immediate(let immediate):
            switch immediate.value {
            case .data(let bytes): return flipped(bytes).map { .immediate(Immediate(immediate.register, .data($0))) }
            case .verdict(let code, let chain):
                return [.immediate(Immediate(immediate.register, .verdict(code == Immediate.accept ? Immediate.drop : Immediate.accept, chain: nil))),
                        .immediate(Immediate(immediate.register, .verdict(code, chain: chain.map { $0 + "x" } ?? "istio-output")))]
            }
        case .limit(let limit):
            return [.limit(Limit(perSecond: limit.perSecond + 1, burst: limit.burst)), .limit(Limit(perSecond: limit.perSecond, burst: limit.burst + 1))]
        case .log(let log):
            return [.log(Log(prefix: log.prefix + "x", group: log.group)), .log(Log(prefix: log.prefix, group: log.group.map { $0 == 0 ? nil : 0 } ?? 1))]
        case .counter, .redirect, .tproxy, .ct:
            return []
        }
    }
}
