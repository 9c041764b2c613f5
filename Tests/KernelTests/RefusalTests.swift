import Foundation
import HostOps
import MeshCapture
import NftablesBackend
import Testing
import TestSupport

/// A batch the kernel refuses changes nothing: not meshcap's ruleset already in force, not a
/// foreign table, not even rule handles. The first error names the rule, errno and expression.
@Suite struct RefusalTests {
    struct Fault: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let inject: @Sendable (Ruleset) -> Ruleset
        let message: String
    }

    static let missingJump = Rule(then: .jump(.regular("NO_SUCH_CHAIN")))

    /// Puts `rule` at the n-th rule position of the whole ruleset.
    static func insert(_ rule: Rule, atRule position: (Int) -> Int, into ruleset: Ruleset) -> Ruleset {
        let total = ruleset.ruleCount
        var target = position(total), seen = 0
        let tables = ruleset.tables.map { table in
            Table(kind: table.kind, chains: table.chains.map { chain in
                var rules = chain.rules
                if target >= seen && target <= seen + rules.count {
                    rules.insert(rule, at: target - seen)
                    target = -1
                }
                seen += chain.rules.count
                return Chain(name: chain.name, rules: rules)
            })
        }
        return Ruleset(layout: ruleset.layout, tables: tables)
    }

    static let faults: [Fault] = [
        Fault(testDescription: "bad rule first", inject: { insert(missingJump, atRule: { _ in 0 }, into: $0) },
              message: "rule #1 in chain output of table istio-proxy-nat (counter jump no-such-chain): No such file or directory (ENOENT) at expression #2 (immediate)"),
        Fault(testDescription: "bad rule in the middle", inject: { insert(missingJump, atRule: { $0 / 2 }, into: $0) },
              message: "(counter jump no-such-chain): No such file or directory (ENOENT) at expression #2 (immediate)"),
        Fault(testDescription: "bad rule last", inject: { insert(missingJump, atRule: { $0 }, into: $0) },
              message: "(counter jump no-such-chain): No such file or directory (ENOENT) at expression #2 (immediate)"),
        Fault(testDescription: "NAT in a filter chain", inject: { ruleset in
                  Ruleset(layout: .inet, tables: ruleset.tables + [Table(kind: .raw, chains: [Chain(name: .output, rules: [Rule(then: .redirect(toPort: 1))])])])
              }, message: "rule #1 in chain output of table istio-proxy-raw (counter redirect to :1): Operation not supported (EOPNOTSUPP)"),
        Fault(testDescription: "over-long chain name", inject: { ruleset in
                  let long = ChainName.regular(String(repeating: "X", count: 300))
                  return Ruleset(layout: .inet, tables: ruleset.tables.map { table in
                      Table(kind: table.kind, chains: table.chains + [Chain(name: long, rules: [Rule(then: .return)])])
                  })
              }, message: "add chain inet istio-proxy-nat xxxxxxxxxxxxxxxxxxxxxxxx... (300 bytes): Numerical result out of range (ERANGE)"),
    ]

    @Test(.needsRoot, arguments: faults)
    func refusedBatchChangesNothing(_ fault: Fault) throws {
        let ns = try Namespace("refuse")
        let config = try ConfigLoader.load(files: [packageRoot.appendingPathComponent("Rules/tproxy.env").path], flags: [],
                                           accounts: AccountDatabase(users: [:], groups: [:])).config
        let good = CapturePlan(config).ruleset(for: .inet)
        let noNames: OwnerResolver = { _, _ in nil }
        try ns.inside { try NftApply.apply(NetlinkBatch.replacing(with: good, resolve: noNames)) }
        try ns.exec("nft", "-f", "-", input: "table ip foreign {\n chain input {\n type filter hook input priority 0; policy accept;\n counter accept\n }\n}\n")
        let before = [try ns.exec("nft", "-a", "list", "ruleset"), try ns.exec("nft", "--debug=netlink", "list", "ruleset")]

        let bad = try NetlinkBatch.replacing(with: fault.inject(good), resolve: noNames)
        #expect(throws: BatchRefused.self) { try ns.inside { try NftApply.apply(bad) } }
        do {
            try ns.inside { try NftApply.apply(bad) }
        } catch let refused as BatchRefused {
            print("refused (\(fault.testDescription)): \(refused)")
            #expect(refused.cause.contains(fault.message), "\(refused)")
            #expect(refused.description.hasSuffix("; nothing was changed"))
        }
        #expect([try ns.exec("nft", "-a", "list", "ruleset"), try ns.exec("nft", "--debug=netlink", "list", "ruleset")] == before)
    }
}
