import Foundation
import HostOps
import IptablesBackend
import MeshCapture
import NftablesBackend
import Testing
import TestSupport

/// Every match and target, loaded into a kernel and read back: with both iptables variants and
/// both families through iptables-save, and with nft (netlink batch and `nft -f`) through the
/// rule dump. What the kernel hands back is read as the very rule meshcap wrote.
@Suite struct CatalogueKernelTests {
    /// The catalogue's rules in chains of the tables their targets need, beside every chain a
    /// rule may jump to.
    static func ruleset(_ layout: Layout, _ families: [Family]) -> Ruleset {
        let tables = TableKind.allCases.compactMap { kind -> Table? in
            let rules = families.flatMap(Catalogue.rules).filter {
                Catalogue.table(for: $0.target) == kind && (layout == .inet || !$0.matches.contains(where: { $0.namedSet != nil }))
            }
            guard !rules.isEmpty else { return nil }
            let others = ChainName.istioChains.subtracting([.istioOutput]).sorted { $0.description < $1.description }
            return Table(kind: kind, chains: [Chain(name: .istioOutput, rules: rules)] + others.map { Chain(name: $0, rules: []) })
        }
        return Ruleset(layout: layout, tables: tables)
    }

    enum Variant: String, CaseIterable { case nft, legacy }

    @Test(.needsRoot, arguments: Variant.allCases)
    func iptablesReadsBackEveryRule(_ variant: Variant) throws {
        let ns = try Namespace("cat-\(variant.rawValue)")
        for family in Family.allCases {
            let ruleset = Self.ruleset(.xtables(family), [family])
            let tool = (family == .ipv4 ? "iptables" : "ip6tables") + "-\(variant.rawValue)"
            try ns.exec("\(tool)-restore", "--noflush", input: IptablesRenderer.render(ruleset))
            let saved = IptablesSave.parse(try ns.exec("\(tool)-save"), family: family)
            for table in ruleset.tables {
                let expected = table.chains[0].rules.map { IptablesRenderer.canonical($0) { _, _ in nil } }
                let read = saved.table(table.kind.rawValue)?.chain("ISTIO_OUTPUT")?.rules ?? []
                #expect(read.count == expected.count, "\(tool) \(table.kind): \(read.count) of \(expected.count) rules")
                for (line, rule) in zip(read, expected) {
                    #expect(line.rule == rule, "\(tool) \(table.kind): \(line.text) read as \(String(describing: line.rule))")
                }
            }
        }
    }

    @Test(.needsRoot)
    func nftReadsBackEveryRuleWhetherSentByMeshcapOrByNft() throws {
        let ruleset = Self.ruleset(.inet, Family.allCases)
        let expected = ruleset.tables.flatMap { table in table.chains[0].rules.map { RuleDecoder.canonical($0) { _, _ in nil } } }
        let tables = Set(TableKind.allCases.map(NftNames.table))
        let viaNetlink = try Namespace("cat-nl"), viaNft = try Namespace("cat-nft")
        try viaNetlink.inside { try NftApply.apply(NetlinkBatch.replacing(with: ruleset) { _, _ in nil }) }
        try viaNft.exec("nft", "-f", "-", input: NftRenderer.render(ruleset))
        for ns in [viaNetlink, viaNft] {
            let dumped = try ns.inside { try RuleDump.snapshot(tables: tables).rules }.filter { $0.chain == "istio-output" }
            #expect(dumped.count == expected.count)
            for (rule, wanted) in zip(dumped, expected) {
                #expect(rule.rule == wanted, "\(ns.name): \(NftRenderer.statement(wanted)) read back as \(rule.rule.map(NftRenderer.statement) ?? "not meshcap's")")
            }
        }
    }
}
