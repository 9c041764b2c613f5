import MeshCapture
import NftablesBackend
import Testing

/// Expression sequences that must match what nft 1.0.6 sends (the kernel tests compare whole
/// rulesets; these pin the corner cases by name).
@Suite struct NetlinkEncodingTests {
    func expressions(_ rule: Rule) throws -> [String] {
        let ruleset = Ruleset(layout: .inet, tables: [Table(kind: .nat, chains: [Chain(name: .output, rules: [rule])])])
        let text = try NetlinkBatch.replacing(with: ruleset) { _, _ in nil }.text
        return text.split(separator: "\n").filter { $0.hasPrefix("  [") }.map(String.init)
    }

    /// Sets count element by element up to `NamedSet.elementCounterLimit` elements and as a
    /// whole beyond: the script says `counter` exactly up to the limit, and the batch carries an
    /// element's counter only then.
    @Test func elementCountersStopAtTheLimit() throws {
        for (count, counts) in [(NamedSet.elementCounterLimit, true), (NamedSet.elementCounterLimit + 1, false)] {
            let prefixes = (0..<count).map { Prefix(host: .v4(0x0A00_0000 + UInt32($0) * 2)) }
            let set = NamedSet.prefixes(PrefixSet(name: "outbound-exclude-ipv4", family: .ipv4, prefixes: prefixes))
            #expect(set.countsElements == counts && set.count == count)
            let table = Table(kind: .nat, chains: [Chain(name: .builtin(.output), rules: [Rule(.destinationSet(PrefixSet(name: "outbound-exclude-ipv4", family: .ipv4, prefixes: prefixes)), then: .return)])])
            let script = NftRenderer.render(Ruleset(layout: .inet, tables: [table]))
            #expect(script.contains("\t\tcounter\n") == counts, "\(count) elements")
            let carried = NamedSetMessages(set: set, id: 1, counters: [.prefix(prefixes[0]): Counter(packets: 5, bytes: 300)])
            #expect(carried.counters.isEmpty == !counts, "\(count) elements")
        }
    }

    @Test func zeroLengthPrefixLoadsTheWholeAddressUnderAZeroMask() throws {
        #expect(try expressions(Rule(.destination(try Prefix.parse("0.0.0.0/0")), then: .return)).prefix(5) == [
            "  [ meta load nfproto => reg 1 ]", "  [ cmp eq reg 1 0x00000002 ]",
            "  [ payload load 4b @ network header + 16 => reg 1 ]",
            "  [ bitwise reg 1 = ( reg 1 & 0x00000000 ) ^ 0x00000000 ]", "  [ cmp eq reg 1 0x00000000 ]",
        ])
    }

    @Test func byteAlignedPrefixesLoadOnlyTheirBytes() throws {
        #expect(try expressions(Rule(.destination(try Prefix.parse("10.0.0.0/8"), negated: true), then: .return))[2...3] == [
            "  [ payload load 1b @ network header + 16 => reg 1 ]", "  [ cmp neq reg 1 0x0000000a ]",
        ])
    }

    @Test func aPortAfterItsProtocolNeedsNoSecondDependency() throws {
        let code = try expressions(Rule(.l4proto(.tcp), .destinationPort(.tcp, [15008]), then: .return))
        #expect(code.filter { $0.contains("meta load l4proto") }.count == 1)
        #expect(try expressions(Rule(.destinationPort(.udp, [53]), then: .return)).prefix(2) == [
            "  [ meta load l4proto => reg 1 ]", "  [ cmp eq reg 1 0x00000011 ]",
        ])
    }

    @Test func ownerNamesResolveOrFail() throws {
        let rule = Rule(.socketGroup(.name("java")), then: .return)
        let ruleset = Ruleset(layout: .inet, tables: [Table(kind: .nat, chains: [Chain(name: .output, rules: [rule])])])
        #expect(throws: UnresolvedOwner.self) { try NetlinkBatch.replacing(with: ruleset) { _, _ in nil } }
        let text = try NetlinkBatch.replacing(with: ruleset) { name, isGroup in name == "java" && isGroup ? 10001 : nil }.text
        #expect(text.contains("  [ cmp eq reg 1 0x00002711 ]"))
    }
}

/// Bytecode read back from the kernel may not be meshcap's (a hand-edited rule in its tables):
/// decoding it gives nil, never a crash.
@Suite struct RuleDecoderTests {
    let r1 = Register.one

    @Test func meshcapsOwnRulesRoundTrip() throws {
        let rules = [
            Rule(.l4proto(.tcp), .destination(try Prefix.parse("10.96.0.0/12"), negated: true), .destinationPort(.tcp, [53, 15008], negated: true),
                 .socketUser(.id(1337)), then: .jump(.istioInRedirect)),
            Rule(.inInterface("lo"), .l4proto(.tcp), .mark(1338, negated: true), then: .return),
            Rule(.l4proto(.tcp), .destination(try Prefix.parse("::1"), negated: true), then: .tproxy(toPort: 15006, mark: 1337)),
            Rule(.destinationPort(.udp, [53]), .socketGroup(.id(7)), then: .conntrackZone(1)),
            Rule(.l4proto(.tcp), .conntrackState([.established, .related]), then: .jump(.istioDivert)),
            Rule(.l4proto(.tcp), .connmark(1337), then: .restoreMarkFromConnection),
            Rule(.l4proto(.tcp), .mark(1337), then: .saveMarkToConnection),
        ]
        for rule in rules {
            let ruleset = Ruleset(layout: .inet, tables: [Table(kind: .mangle, chains: [Chain(name: .prerouting, rules: [rule])])])
            let batch = try NetlinkBatch.replacing(with: ruleset) { _, _ in nil }
            guard case .addRule(_, _, _, _, let expressions)? = batch.operations.last else { Issue.record("no rule"); continue }
            #expect(RuleDecoder.decode(expressions, sets: ["__set%d": .ports([53, 15008])]) == RuleDecoder.canonical(rule) { _, _ in nil })
        }
    }

    @Test func foreignBytecodeDecodesToNil() {
        let odd: [[NftExpression]] = [
            [],
            [.counter(Counter())],
            [.meta(Meta(Meta.transportProtocol, .load(into: r1)))],
            [.payload(Payload(Payload.transportHeader, offset: 2, length: 2, into: r1)), .cmp(Cmp(r1, equal: true, [1]))],
            [.payload(Payload(Payload.networkHeader, offset: 16, length: 4, into: r1)), .cmp(Cmp(r1, equal: true, [10, 0, 0, 0]))],
            [.meta(Meta(Meta.networkProtocol, .load(into: r1))), .cmp(Cmp(r1, equal: true, [2])),
             .payload(Payload(Payload.networkHeader, offset: 16, length: 9, into: r1)), .cmp(Cmp(r1, equal: true, [1]))],
            [.immediate(Immediate(r1, .data([1]))), .redirect(Redirect(portRegister: r1))],
            [.immediate(Immediate(Register.verdict, .verdict(12345, chain: nil)))],
            [.lookup(Lookup(r1, set: "__set9", setID: nil, inverted: false))],
        ]
        for expressions in odd { #expect(RuleDecoder.decode(expressions, sets: [:]) == nil, "\(expressions)") }
    }
}
