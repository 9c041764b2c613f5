import IptablesBackend
import MeshCapture
import NftablesBackend
import Testing
@testable import Verify

/// The one comparison: the config's side made by the dialect in the form a reading has, held
/// against a reading; chains as well as rules.
@Suite struct ComparisonTests {
    static let desired: DesiredState = {
        let config = try! VerdictTests.config(["-i", "10.96.0.0/12", "-b", "8080", "--ipv6"])
        let plan = CapturePlan(config)
        return DesiredState(rulesets: [plan.ruleset(for: .inet)] + Family.allCases.map { plan.ruleset(for: .xtables($0)) }, routing: []) { _, _ in nil }
    }()

    /// The config's own rules and chains, read back, are the config's, in both dialects; and the
    /// two views `diff` prints of them are equal.
    @Test(arguments: [true, false]) func theConfigsOwnSideIsNoDrift(nft: Bool) {
        let dialect: any Dialect = nft ? NftDialect() : IptablesDialect()
        let expected = dialect.expected(Self.desired)
        let comparison = Comparison(rules: expected.rules, chains: expected.chains, expected: expected)
        #expect(!comparison.drifted && comparison.driftSentence == nil)
        #expect(comparison.places.allSatisfy { $0.purposes.allSatisfy { $0 != nil } }, "a rule of the config's was not placed")
        #expect(!dialect.view(of: expected.rules, chains: expected.chains).isEmpty)
    }

    /// An nft base chain at another priority runs in another order against other tables: drift,
    /// said with how it is declared; an empty chain of meshcap's the config lacks is drift too.
    @Test func aBaseChainDeclaredOtherwiseIsDrift() throws {
        let expected = NftDialect().expected(Self.desired)
        let output = try #require(expected.chains.first { $0.chainName == .output && $0.tableKind == .nat })
        let moved = ObservedChain(family: nil, table: output.table, chain: output.chain, tableKind: .nat, chainName: .output, meshcaps: true,
                                  declaration: " (type nat hook output priority 0)")
        let chains = expected.chains.map { $0 == output ? moved : $0 }
        let comparison = Comparison(rules: expected.rules, chains: chains, expected: expected)
        #expect(comparison.drifted)
        #expect(comparison.driftSentence == "istio-proxy-nat output is declared (type nat hook output priority 0)")
        let stray = ObservedChain(family: nil, table: output.table, chain: "istio-stray", tableKind: .nat, chainName: .regular("ISTIO_STRAY"), meshcaps: true, declaration: nil)
        let extra = Comparison(rules: expected.rules, chains: expected.chains + [stray], expected: expected)
        #expect(extra.chainsExtra == [stray] && extra.drifted)
        // Without the chains (a format that shows none), only rules are compared.
        #expect(!Comparison(rules: expected.rules, chains: nil, expected: expected).drifted)
    }

    /// A rule deleted, and the same rule back in another place: missing, then reordered.
    @Test func rulesMissingOrMovedAreDrift() throws {
        let expected = IptablesDialect().expected(Self.desired)
        let outputs = expected.rules.indices.filter { expected.rules[$0].chainName == .istioOutput && expected.rules[$0].family == .ipv4 }
        var fewer = expected.rules
        fewer.remove(at: try #require(outputs.last))
        let missing = Comparison(rules: fewer, chains: expected.chains, expected: expected)
        #expect(missing.missing == 1 && missing.extra == 0 && missing.reordered == 0)
        var moved = expected.rules
        moved.swapAt(outputs[0], try #require(outputs.last))
        let reordered = Comparison(rules: moved, chains: expected.chains, expected: expected)
        #expect(reordered.missing == 0 && reordered.extra == 0 && reordered.reordered == 1)
    }
}
