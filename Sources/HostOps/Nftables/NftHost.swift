import CNftnl
import Glibc
import MeshCapture
import NftablesBackend

/// The nft host: meshcap's three `inet` tables over netlink. A change is one batch that
/// replaces the tables that differ from the plan, bound to the ruleset generation read before it was built, so a writer
/// that changed anything in between makes the kernel refuse the whole batch instead of having
/// its change overwritten (the caller reads again and retries once).
public struct NftHost: FirewallHost {
    public init() {}

    public var name: String { "nft" }

    public var choosingKeys: [(key: String, value: String)] { [("NATIVE_NFTABLES", "true")] }

    /// meshcap's inet tables are deleted with the rules: none is left to delete.
    public func deleteEmpty(_ tables: [MadeTable]) throws -> [MadeTable] { [] }

    static let tables = Set(TableKind.allCases.map(NftNames.table))

    public func observe() throws -> LiveRules {
        let snapshot = try RuleDump.snapshot(tables: Self.tables)
        // Names in the model's terms, once per table and chain rather than once per rule.
        let kinds = Dictionary(uniqueKeysWithValues: TableKind.allCases.map { (NftNames.table($0), $0) })
        var chainNames: [String: ChainName] = [:]
        for chain in Set(snapshot.rules.map(\.chain)) { chainNames[chain] = RuleDecoder.chainName(chain) }
        let rules = snapshot.rules.map { dumped in
            ObservedRule(family: nil, table: dumped.table, chain: dumped.chain,
                         tableKind: kinds[dumped.table], chainName: chainNames[dumped.chain] ?? RuleDecoder.chainName(dumped.chain),
                         owner: dumped.rule == nil ? .other : .meshcap,
                         rule: dumped.rule, rendering: dumped.rule.map { .nftStatement($0) } ?? .text(dumped.bytecode ?? ""),
                         packets: dumped.packets, bytes: dumped.bytes, elements: dumped.elements)
        }
        return LiveRules(rules: rules, ahead: try Self.ahead(snapshot.chains, all: RuleDump.allChains(), ruleCount: RuleDump.ruleCount),
                         reading: .nft(snapshot))
    }

    /// Other tables' base chains with rules, at the hooks meshcap's chains use and of the same
    /// type, that run first (a lower priority) or at the same priority (then their order is not
    /// defined): their rules may take a packet before meshcap's see it. The same for a live host
    /// (rules counted over netlink) and a saved `nft list ruleset` (counted in it).
    public static func ahead(_ chains: [DumpedChain], all: [DumpedChain], ruleCount: (DumpedChain) throws -> Int) rethrows -> [Ahead] {
        let mine = chains.filter { $0.family == UInt32(NFPROTO_INET) && tables.contains($0.table) && $0.hook != nil }
        var found: [Ahead] = []
        for chain in all where chain.hook != nil && !(chain.family == UInt32(NFPROTO_INET) && tables.contains(chain.table)) {
            // Rules are counted only for the few chains that qualify otherwise.
            guard let ours = mine.first(where: { $0.hook == chain.hook && $0.type == chain.type }),
                  let priority = chain.priority, let own = ours.priority, priority <= own else { continue }
            let count = try ruleCount(chain)
            guard count > 0 else { continue }
            let names: [UInt32: String] = [UInt32(NFPROTO_INET): "inet", UInt32(NFPROTO_IPV4): "ip", UInt32(NFPROTO_IPV6): "ip6"]
            let family = names[chain.family] ?? "family \(chain.family)"
            let when = priority < own ? "runs before meshcap's \(ours.table) \(ours.name)" : "runs at the same priority as meshcap's \(ours.table) \(ours.name) (their order is not defined)"
            // Its rules' counters are not read: their verdicts are not decoded either.
            found.append(Ahead(sentence: "nft chain \(family) \(chain.table) \(chain.name) (\(chain.type ?? "?") hook \(chain.hook?.rawValue ?? "?") priority \(priority), \(count) rules) \(when)", packets: nil))
        }
        return found
    }

    public func changes(to desired: DesiredState, from live: LiveRules) throws -> Changes {
        guard case .nft(let snapshot) = live.reading, let ruleset = desired.ruleset(.inet) else {
            preconditionFailure("an nft host reads nft and applies an inet ruleset")
        }
        // Only tables whose shape differs are replaced, so an unchanged table keeps its handles
        // and counters (verify reads them) while its neighbour is reconfigured.
        let live = Self.shapes(of: snapshot), wanted = Self.shapes(of: ruleset, resolve: desired.resolve)
        let changed = Set(TableKind.allCases.filter { live[NftNames.table($0)] != wanted[NftNames.table($0)] })
        let carried = Self.carriedCounters(snapshot, ruleset, in: changed, resolve: desired.resolve)
        // A set's elements keep their numbers too, element by element (the set's name is its place).
        var elements: [String: [SetElement: Counter]] = [:]
        for dumped in snapshot.rules {
            guard let set = dumped.rule?.matches.lazy.compactMap(\.namedSet).first else { continue }
            for count in dumped.elements where count.packets != 0 || count.bytes != 0 {
                elements["\(dumped.table) \(set.name)", default: [:]][count.element] = Counter(packets: count.packets, bytes: count.bytes)
            }
        }
        let batch = try NetlinkBatch.replacing(changed, with: ruleset, resolve: desired.resolve,
                                               counters: { carried[CounterKey(table: $0, chain: $1, index: $2)] },
                                               elementCounters: { elements["\(NftNames.table($0)) \($1)"] ?? [:] })
        let summary = ruleset.tables.filter { changed.contains($0.kind) }.map {
            "\(NftNames.table($0.kind)): \($0.chains.reduce(0) { $0 + $1.rules.count }) rules in \($0.chains.count) chains"
        } + changed.filter { kind in !ruleset.tables.contains { $0.kind == kind } }.map(NftNames.table).sorted().map {
            "table inet \($0) deleted (the config has no rules for it)"
        }
        return Changes(summary: summary, steps: .nft(batch, generation: snapshot.generation))
    }

    public func removal(from live: LiveRules, recognising: DesiredState?) throws -> Changes {
        guard case .nft(let snapshot) = live.reading else { preconditionFailure("an nft host reads nft") }
        let present = TableKind.allCases.filter { kind in snapshot.chains.contains { $0.table == NftNames.table(kind) } }
        let batch = NetlinkBatch(operations: present.map { .deleteTable($0) })
        return Changes(summary: present.map { "table inet \(NftNames.table($0)) deleted" }, steps: .nft(batch, generation: snapshot.generation))
    }

    public func resetCounters(_ live: LiveRules) throws -> Int {
        guard case .nft(let snapshot) = live.reading else { preconditionFailure("an nft host reads nft") }
        func rebuild() throws -> Int {
            try commit(Changes(summary: [], steps: .nft(try Self.rebuilding(snapshot), generation: snapshot.generation)))
            return snapshot.rules.count
        }
        // A rule dump's reset leaves set elements' counters alone: rebuilding zeroes rules and
        // elements in one transaction.
        if snapshot.rules.contains(where: { !$0.elements.isEmpty }) { return try rebuild() }
        do {
            return try RuleDump.resetCounters(tables: Array(Set(snapshot.chains.map(\.table))).sorted())
        } catch let error as HostError where error.errno == EINVAL || error.errno == EOPNOTSUPP {
            // Before Linux 6.2 no rule counter can be zeroed in place: rebuild the tables as they are.
            return try rebuild()
        }
    }

    /// One batch that replaces meshcap's tables with the rules they hold, counters from zero
    /// (new handles, too). Only for tables of rules meshcap writes: another rule could not be
    /// written back as it was.
    static func rebuilding(_ snapshot: RuleDump.Snapshot) throws -> NetlinkBatch {
        guard snapshot.rules.allSatisfy({ $0.rule != nil }) else {
            throw HostError("zeroing these counters means rebuilding meshcap's tables (on a kernel before Linux 6.2, or when they hold sets, whose elements' counters a rule reset leaves alone), and they hold a rule meshcap does not write; nothing was changed")
        }
        let tables = TableKind.allCases.compactMap { kind -> Table? in
            let name = NftNames.table(kind)
            let chains = snapshot.chains.filter { $0.family == UInt32(NFPROTO_INET) && $0.table == name }
            guard !chains.isEmpty else { return nil }
            return Table(kind: kind, chains: chains.map { chain in
                Chain(name: RuleDecoder.chainName(chain.name),
                      rules: snapshot.rules.filter { $0.table == name && $0.chain == chain.name }.compactMap(\.rule))
            })
        }
        return try NetlinkBatch.replacing(Set(tables.map(\.kind)), with: Ruleset(layout: .inet, tables: tables)) { _, _ in nil }
    }

    public func commit(_ changes: Changes) throws {
        guard case .nft(let batch, let generation) = changes.steps else { preconditionFailure("an nft host commits a batch") }
        guard !batch.operations.isEmpty else { return }
        do {
            try NftApply.apply(batch, generation: generation)
        } catch let refused as BatchRefused where refused.generationChanged {
            throw RulesetChanged()
        }
    }

    public func view(of live: LiveRules) -> String {
        guard case .nft(let snapshot) = live.reading else { return "" }
        var lines: [String] = []
        for kind in TableKind.allCases {
            let table = NftNames.table(kind)
            let chains = snapshot.chains.filter { $0.family == UInt32(NFPROTO_INET) && $0.table == table }
            guard !chains.isEmpty else { continue }
            lines.append("table inet \(table)")
            let decoded = snapshot.rules.filter { $0.table == table }.compactMap(\.rule)
            lines += Self.setLines(Table(kind: kind, chains: [Chain(name: .output, rules: decoded)]).sets)
            for chain in chains {
                lines.append("\tchain \(chain.name)\(Self.hookText(type: chain.type, hook: chain.hook, priority: chain.priority))")
                for rule in snapshot.rules where rule.table == table && rule.chain == chain.name {
                    lines.append("\t\t" + (rule.rule.map(NftRenderer.statement) ?? "# not meshcap's: \(rule.bytecode ?? "")"))
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    public func view(of desired: DesiredState) -> String {
        guard let ruleset = desired.ruleset(.inet) else { return "" }
        var lines: [String] = []
        for table in ruleset.tables {
            lines.append("table inet \(NftNames.table(table.kind))")
            lines += Self.setLines(table.sets)
            for chain in table.chains {
                var hookText = ""
                if case .builtin(let hook) = chain.name {
                    let base = NftNames.baseChain(table.kind, hook)
                    hookText = Self.hookText(type: base.type, hook: hook, priority: Int32(base.priority))
                }
                lines.append("\tchain \(NftNames.chain(chain.name))\(hookText)")
                lines += chain.rules.map { "\t\t" + NftRenderer.statement(RuleDecoder.canonical($0, resolve: desired.resolve)) }
            }
        }
        return lines.joined(separator: "\n")
    }

    /// A table's sets, an element a line, so that `diff` shows an element added or removed.
    static func setLines(_ sets: [NamedSet]) -> [String] {
        sets.flatMap { set in ["\tset \(set.name)"] + set.elements.map { "\t\t" + NftRenderer.element($0) } }
    }

    static func hookText(type: String?, hook: Hook?, priority: Int32?) -> String {
        guard let type, let hook, let priority else { return "" }
        return " (type \(type) hook \(hook.rawValue) priority \(priority))"
    }

    struct CounterKey: Hashable {
        let table: TableKind
        let chain: ChainName
        let index: Int
    }

    /// Where each rule of the tables about to be rebuilt that equals a live one starts counting:
    /// from that rule's numbers (`CarriedCounters`), by table, chain and place in the chain.
    static func carriedCounters(_ snapshot: RuleDump.Snapshot, _ ruleset: Ruleset, in tables: Set<TableKind>, resolve: OwnerResolver) -> [CounterKey: Counter] {
        var live = CarriedCounters()
        for dumped in snapshot.rules {
            if let rule = dumped.rule { live.remember(counted(rule), in: "\(dumped.table) \(dumped.chain)", packets: dumped.packets, bytes: dumped.bytes) }
        }
        var carried: [CounterKey: Counter] = [:]
        for table in ruleset.tables where tables.contains(table.kind) {
            for chain in table.chains {
                let name = "\(NftNames.table(table.kind)) \(NftNames.chain(chain.name))"
                for (index, rule) in chain.rules.enumerated() {
                    guard let count = live.take(counted(RuleDecoder.canonical(rule, resolve: resolve)), in: name) else { continue }
                    carried[CounterKey(table: table.kind, chain: chain.name, index: index)] = Counter(packets: count.packets, bytes: count.bytes)
                }
            }
        }
        return carried
    }

    /// A rule as its counter knows it: a set it looks up is the set of that name, whatever the set
    /// holds now (its elements carry their own counts), so adding a prefix to a list keeps the
    /// lookup rule's numbers.
    static func counted(_ rule: Rule) -> Rule {
        Rule(matches: rule.matches.map { match in
            switch match {
            case .destinationSet(let set): .destinationSet(PrefixSet(name: set.name, family: set.family, aggregated: []))
            case .sourceSet(let set): .sourceSet(PrefixSet(name: set.name, family: set.family, aggregated: []))
            case .destinationPortSet(let proto, let set): .destinationPortSet(proto, PortSet(name: set.name, ports: []))
            default: match
            }
        }, target: rule.target)
    }

    /// A table's chains (with their hooks) and rules in canonical form, in order: equal shapes
    /// mean nothing to change in that table.
    struct Shape: Equatable {
        var chains: [String] = []
        var rules: [String: [Rule?]] = [:]
    }

    static func shapes(of snapshot: RuleDump.Snapshot) -> [String: Shape] {
        var shapes: [String: Shape] = [:]
        for chain in snapshot.chains where chain.family == UInt32(NFPROTO_INET) && tables.contains(chain.table) {
            shapes[chain.table, default: Shape()].chains.append(
                describe(chain: chain.name, type: chain.type, hook: chain.hook, priority: chain.priority)
                + (chain.policy.map { $0 == UInt32(NF_ACCEPT) ? "" : " policy \($0)" } ?? ""))
        }
        for rule in snapshot.rules { shapes[rule.table, default: Shape()].rules[rule.chain, default: []].append(rule.rule) }
        return shapes
    }

    static func shapes(of ruleset: Ruleset, resolve: OwnerResolver) -> [String: Shape] {
        var shapes: [String: Shape] = [:]
        for table in ruleset.tables {
            var shape = Shape()
            for chain in table.chains {
                let name = NftNames.chain(chain.name)
                if case .builtin(let hook) = chain.name {
                    let base = NftNames.baseChain(table.kind, hook)
                    shape.chains.append(describe(chain: name, type: base.type, hook: hook, priority: Int32(base.priority)))
                } else {
                    shape.chains.append(describe(chain: name, type: nil, hook: nil, priority: nil))
                }
                if !chain.rules.isEmpty { shape.rules[name] = chain.rules.map { RuleDecoder.canonical($0, resolve: resolve) } }
            }
            shapes[NftNames.table(table.kind)] = shape
        }
        return shapes
    }

    static func describe(chain: String, type: String?, hook: Hook?, priority: Int32?) -> String {
        "\(chain) \(type ?? "-") \(hook?.rawValue ?? "-") \(priority.map(String.init) ?? "-")"
    }
}
