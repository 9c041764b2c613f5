import CNftnl
import Glibc
import MeshCapture
import NftablesBackend

/// An nf_tables host in memory: the dialect's batches applied operation by operation to tables,
/// chains, rules and sets, the way the kernel applies them (a whole batch or none; a batch bound
/// to an older generation refused), and read back as the kernel's dump is read: each rule
/// decoded from the expressions it was sent as (`RuleDecoder`), its counter from the counter
/// expression, a named set's elements with theirs. It stands in for the kernel in the tests of
/// what sits above; the netlink kernel tests judge the bytes.
public final class FakeNft: FirewallHost, @unchecked Sendable {
    public let dialect = NftDialect()
    public var name: String { "nft" }
    public var choosingKeys: [(key: String, value: String)] { [("NATIVE_NFTABLES", "true")] }
    public var keepsTablesItMakes: Bool { false }
    public func deleteEmpty(_ tables: [MadeTable]) throws -> [MadeTable] { [] }

    /// What is in force: the tables' chains and rules, as a dump reads them.
    public private(set) var snapshot = NftSnapshot(generation: 1, chains: [], rules: [])
    /// The tables that exist (a table can be there without a chain).
    private var tables = Set<String>()
    /// The sets of each table by name, and their elements' counters.
    private var sets: [String: [String: RuleDecoder.SetContents]] = [:]
    private var elementCounters: [String: [SetElement: Counter]] = [:]
    private var nextHandle: UInt64 = 1
    /// Every batch committed, in order.
    public private(set) var commits: [NetlinkBatch] = []
    /// How many commits report that the ruleset changed after it was read.
    public var rulesetChanges = 0

    public init() {}

    public func read() throws -> NftSnapshot { snapshot }

    public func commit(_ changes: Changes<NftDialect.Steps>) throws {
        let batch = changes.steps.batch
        guard !batch.operations.isEmpty else { return }
        if rulesetChanges > 0 || changes.steps.generation != snapshot.generation {
            rulesetChanges = max(0, rulesetChanges - 1)
            throw RulesetChanged()
        }
        var chains = snapshot.chains, rules = snapshot.rules, sets = self.sets, counters = elementCounters, tables = self.tables
        var setNames: [UInt32: String] = [:]
        for operation in batch.operations {
            switch operation {
            case .addTable(let kind):
                tables.insert(NftNames.table(kind))
            case .deleteTable(let kind):
                let table = NftNames.table(kind)
                guard tables.remove(table) != nil else { throw HostError("delete table inet \(table)", errno: ENOENT) }
                chains.removeAll { $0.table == table }
                rules.removeAll { $0.table == table }
                sets[table] = nil
                counters = counters.filter { !$0.key.hasPrefix(table + " ") }
            case .deleteIptablesTable:
                throw HostError("an iptables table in meshcap's nft batch", errno: EINVAL)
            case .addChain(let kind, let chain):
                let table = NftNames.table(kind), name = NftNames.chain(chain)
                guard tables.contains(table) else { throw HostError("add chain inet \(table) \(name)", errno: ENOENT) }
                guard !chains.contains(where: { $0.table == table && $0.name == name }) else { continue }
                var type: String?, hook: Hook?, priority: Int32?
                if case .builtin(let builtin) = chain {
                    (type, hook, priority) = (NftNames.chainType(kind, builtin), builtin, Int32(kind.priority(at: builtin)))
                }
                chains.append(DumpedChain(family: UInt32(NFPROTO_INET), table: table, name: name, type: type, hook: hook, priority: priority,
                                          policy: hook == nil ? nil : UInt32(NF_ACCEPT)))
            case .addSet(let kind, let set), .addElements(let kind, let set):
                setNames[set.id] = "__set\(set.id)"
                sets[NftNames.table(kind), default: [:]]["__set\(set.id)"] = .ports(set.ports)
            case .addNamedSet(let kind, let messages), .addNamedSetElements(let kind, let messages, _):
                let table = NftNames.table(kind)
                setNames[messages.id] = messages.set.name
                sets[table, default: [:]][messages.set.name] = .named(messages.set)
                counters["\(table) \(messages.set.name)"] = messages.counters
            case .addRule(let kind, let chain, _, _, let expressions):
                let table = NftNames.table(kind), name = NftNames.chain(chain)
                guard chains.contains(where: { $0.table == table && $0.name == name }) else {
                    throw HostError("add rule inet \(table) \(name)", errno: ENOENT)
                }
                // As the kernel keeps it: a set named, not numbered; the counter as it starts.
                let kept = expressions.map { expression -> NftExpression in
                    guard case .lookup(let lookup) = expression, let id = lookup.setID, let set = setNames[id] else { return expression }
                    return .lookup(Lookup(lookup.register, set: set, setID: nil, inverted: lookup.inverted))
                }
                let counter = kept.lazy.compactMap { if case .counter(let c) = $0 { c } else { nil } }.first
                rules.append(DumpedRule(table: table, chain: name, handle: nextHandle, expressions: kept,
                                        rule: RuleDecoder.decode(kept, sets: sets[table] ?? [:]),
                                        packets: counter?.packets ?? 0, bytes: counter?.bytes ?? 0, bytecode: nil, elements: []))
                nextHandle += 1
            }
        }
        self.sets = sets
        self.tables = tables
        elementCounters = counters
        snapshot = NftSnapshot(generation: snapshot.generation + 1, chains: chains, rules: rules.map { withElements($0) })
        commits.append(batch)
    }

    /// A rule that looks up a named set, with each element's counter.
    private func withElements(_ rule: DumpedRule) -> DumpedRule {
        guard let set = rule.rule?.matches.lazy.compactMap(\.namedSet).first, set.countsElements else { return rule }
        let counters = elementCounters["\(rule.table) \(set.name)"] ?? [:]
        return DumpedRule(table: rule.table, chain: rule.chain, handle: rule.handle, expressions: rule.expressions, rule: rule.rule,
                          packets: rule.packets, bytes: rule.bytes, bytecode: rule.bytecode,
                          elements: set.elements.map { ElementCount($0, packets: counters[$0]?.packets ?? 0, bytes: counters[$0]?.bytes ?? 0) })
    }

    /// Zeroes the rules' counters (a rule dump's reset) and the elements' (a rebuild).
    public func resetCounters(_ reading: NftSnapshot) throws -> Int {
        snapshot = NftSnapshot(generation: snapshot.generation + 1, chains: snapshot.chains, rules: snapshot.rules.map { rule in
            DumpedRule(table: rule.table, chain: rule.chain, handle: rule.handle, expressions: rule.expressions, rule: rule.rule,
                       packets: 0, bytes: 0, bytecode: rule.bytecode, elements: rule.elements.map { ElementCount($0.element, packets: 0, bytes: 0) })
        })
        elementCounters = [:]
        return snapshot.rules.count
    }

    /// The rules as another program (or a hand) left them: `change` edits the list in force.
    public func tamper(_ change: (inout [DumpedRule]) -> Void) {
        var rules = snapshot.rules
        change(&rules)
        snapshot = NftSnapshot(generation: snapshot.generation + 1, chains: snapshot.chains, rules: rules)
    }
}
