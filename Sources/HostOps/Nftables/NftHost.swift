import CNftnl
import Glibc
import MeshCapture
import NftablesBackend

/// The nft host: reads meshcap's three `inet` tables over netlink and sends the dialect's batch
/// bound to the generation it read (`NftDialect`).
public struct NftHost: FirewallHost {
    public init() {}

    public let dialect = NftDialect()

    public var name: String { "nft" }

    public var choosingKeys: [(key: String, value: String)] { [("NATIVE_NFTABLES", "true")] }

    /// meshcap's inet tables are deleted with the rules: none is left to delete.
    public var keepsTablesItMakes: Bool { false }
    public func deleteEmpty(_ tables: [MadeTable]) throws -> [MadeTable] { [] }

    /// meshcap's tables, and the rule counts of other tables' base chains that may run first.
    public func read() throws -> NftSnapshot {
        let snapshot = try RuleDump.snapshot(tables: NftDialect.tables)
        let contenders = try NftDialect.contenders(snapshot.chains, all: RuleDump.allChains())
        return snapshot.with(contenders: try contenders.map { ($0, try RuleDump.ruleCount($0)) })
    }

    public func resetCounters(_ snapshot: NftSnapshot) throws -> Int {
        // A rule without a counter has none to zero, and a rebuild would write it with one.
        if snapshot.rules.contains(where: { !$0.counted }) {
            throw HostError("\(snapshot.rules.count { !$0.counted }) rules in meshcap's tables have no counter (Istio's nftables rules had none until istio/istio#57216): there is nothing to zero, and nothing was changed; `meshcap apply` writes rules that count")
        }
        func rebuild() throws -> Int {
            try commit(Changes(summary: [], steps: try dialect.rebuilding(snapshot)))
            return snapshot.rules.count
        }
        // A rule dump's reset leaves set elements' counters alone: rebuilding zeroes rules and
        // elements in one transaction.
        if snapshot.rules.contains(where: { !$0.elements.isEmpty }) { return try rebuild() }
        do {
            return try RuleDump.resetCounters(tables: Array(Set(snapshot.chains.map(\.table))).sorted())
        } catch let error as HostError where error.isInvalid || error.isUnsupported {
            // Before Linux 6.2 no rule counter can be zeroed in place: rebuild the tables as they are.
            return try rebuild()
        }
    }

    public func commit(_ changes: Changes<NftDialect.Steps>) throws {
        guard !changes.steps.batch.operations.isEmpty else { return }
        do {
            try NftApply.apply(changes.steps.batch, generation: changes.steps.generation)
        } catch let refused as BatchRefused where refused.generationChanged {
            throw RulesetChanged()
        }
    }
}
