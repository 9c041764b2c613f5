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
