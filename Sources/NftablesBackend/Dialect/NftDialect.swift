import CNftnl
import MeshCapture

/// The nft dialect: meshcap's three `inet` tables as nf_tables holds them. A change is one
/// batch that replaces the tables whose shape differs from the plan, bound to the generation
/// read (a writer that changed anything in between makes the kernel refuse the whole batch).
public struct NftDialect: Dialect {
    public typealias Reading = NftSnapshot
    /// The batch, and the generation it is bound to.
    public typealias Steps = (batch: NetlinkBatch, generation: UInt32)

    public init() {}

    public var syntax: String { "nft" }

    public static let tables = Set(TableKind.allCases.map(NftNames.table))

    public func layouts(_ families: [Family]) -> [Layout] { [.inet] }
    public func table(_ kind: TableKind) -> String { NftNames.table(kind) }
    public func chain(_ name: ChainName) -> String { NftNames.chain(name) }
    public func statement(_ rule: Rule, family: Family) -> String { NftRenderer.statement(rule) }
    public func canonical(_ rule: Rule, resolve: OwnerResolver) -> Rule { RuleDecoder.canonical(rule, resolve: resolve) }
    public func text(of steps: Steps) -> String { steps.batch.operations.isEmpty ? "" : steps.batch.text }
    public func isEmpty(_ steps: Steps) -> Bool { steps.batch.operations.isEmpty }

    public func live(_ snapshot: NftSnapshot) -> LiveRules<NftSnapshot> {
        // Names in the model's terms, once per table and chain rather than once per rule.
        let kinds = Dictionary(uniqueKeysWithValues: TableKind.allCases.map { (NftNames.table($0), $0) })
        var chainNames: [String: ChainName] = [:]
        for chain in Set(snapshot.rules.map(\.chain) + snapshot.chains.map(\.name)) { chainNames[chain] = RuleDecoder.chainName(chain) }
        let rules = snapshot.rules.map { dumped in
            let kind = kinds[dumped.table], chain = chainNames[dumped.chain] ?? RuleDecoder.chainName(dumped.chain)
            guard let rule = dumped.rule else {
                return ObservedRule(family: nil, table: dumped.table, chain: dumped.chain, tableKind: kind, chainName: chain, owner: .other,
                                    rule: nil, text: dumped.bytecode ?? "", packets: dumped.packets, bytes: dumped.bytes, counted: dumped.counted,
                                    elements: dumped.elements)
            }
            return ObservedRule(family: nil, table: dumped.table, chain: dumped.chain, tableKind: kind, chainName: chain, owner: .meshcap,
                                rule: rule, render: NftRenderer.statement, packets: dumped.packets, bytes: dumped.bytes, counted: dumped.counted,
                                elements: dumped.elements)
        }
        let chains = snapshot.chains.compactMap { chain -> ObservedChain? in
            guard chain.family == UInt32(NFPROTO_INET), let kind = kinds[chain.table] else { return nil }
            return ObservedChain(family: nil, table: chain.table, chain: chain.name, tableKind: kind, chainName: chainNames[chain.name] ?? RuleDecoder.chainName(chain.name),
                                 meshcaps: true, declaration: Self.declaration(type: chain.type, hook: chain.hook, priority: chain.priority, policy: chain.policy))
        }
        return LiveRules(rules: rules, ahead: Self.ahead(snapshot.chains, contenders: snapshot.contenders), chains: chains, reading: snapshot)
    }

    /// A base chain as `diff` shows it: " (type nat hook output priority -100)", and its policy
    /// when it is not accept; nil for a regular chain.
    static func declaration(type: String?, hook: Hook?, priority: Int32?, policy: UInt32? = nil) -> String? {
        guard let type, let hook, let priority else { return nil }
        let drops = policy.map { $0 != UInt32(NF_ACCEPT) } ?? false
        return " (type \(type) hook \(hook.rawValue) priority \(priority)\(drops ? " policy drop" : ""))"
    }

    /// Other tables' base chains at the hooks meshcap's chains use and of the same type, that run
    /// first (a lower priority) or at the same priority (then their order is not defined): their
    /// rules may take a packet before meshcap's see it. A reader counts the rules of these only.
    public static func contenders(_ mine: [DumpedChain], all: [DumpedChain]) -> [DumpedChain] {
        let own = mine.filter { $0.family == UInt32(NFPROTO_INET) && tables.contains($0.table) && $0.hook != nil }
        return all.filter { chain in
            guard chain.hook != nil, !(chain.family == UInt32(NFPROTO_INET) && tables.contains(chain.table)),
                  let ours = own.first(where: { $0.hook == chain.hook && $0.type == chain.type }),
                  let priority = chain.priority, let mine = ours.priority else { return false }
            return priority <= mine
        }
    }

    /// The contenders that hold rules, one sentence each: the same for a live host (rules counted
    /// over netlink) and a saved `nft list ruleset` (counted in it).
    static func ahead(_ mine: [DumpedChain], contenders: [(chain: DumpedChain, rules: Int)]) -> [Ahead] {
        let own = mine.filter { $0.family == UInt32(NFPROTO_INET) && tables.contains($0.table) && $0.hook != nil }
        return contenders.compactMap { chain, count in
            guard count > 0, let ours = own.first(where: { $0.hook == chain.hook && $0.type == chain.type }),
                  let priority = chain.priority, let mine = ours.priority else { return nil }
            let names: [UInt32: String] = [UInt32(NFPROTO_INET): "inet", UInt32(NFPROTO_IPV4): "ip", UInt32(NFPROTO_IPV6): "ip6"]
            let family = names[chain.family] ?? "family \(chain.family)"
            let when = priority < mine ? "runs before meshcap's \(ours.table) \(ours.name)" : "runs at the same priority as meshcap's \(ours.table) \(ours.name) (their order is not defined)"
            // Its rules' counters are not read: their verdicts are not decoded either.
            return Ahead(sentence: "nft chain \(family) \(chain.table) \(chain.name) (\(chain.type ?? "?") hook \(chain.hook?.rawValue ?? "?") priority \(priority), \(count) rules) \(when)", packets: nil)
        }
    }

    public func changes(to desired: DesiredState, from snapshot: NftSnapshot) throws -> Changes<Steps> {
        guard let ruleset = desired.ruleset(.inet) else { preconditionFailure("the nft dialect applies an inet ruleset") }
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
        return Changes(summary: summary, steps: (batch, snapshot.generation))
    }

    public func removal(from snapshot: NftSnapshot, recognising: DesiredState?) throws -> Changes<Steps> {
        let present = TableKind.allCases.filter { kind in snapshot.chains.contains { $0.table == NftNames.table(kind) } }
        let batch = NetlinkBatch(operations: present.map { .deleteTable($0) })
        return Changes(summary: present.map { "table inet \(NftNames.table($0)) deleted" }, steps: (batch, snapshot.generation))
    }

    /// One batch that replaces meshcap's tables with the rules they hold, counters from zero
    /// (new handles, too): how counters are zeroed where a rule reset cannot. Only for tables of
    /// rules meshcap writes: another rule could not be written back as it was.
    public func rebuilding(_ snapshot: NftSnapshot) throws -> Steps {
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
        return (try NetlinkBatch.replacing(Set(tables.map(\.kind)), with: Ruleset(layout: .inet, tables: tables)) { _, _ in nil }, snapshot.generation)
    }

    public func view(of rules: [ObservedRule], chains: [ObservedChain]) -> String {
        var lines: [String] = []
        var byChain: [String: [ObservedRule]] = [:]
        for rule in rules where rule.family == nil { byChain["\(rule.table) \(rule.chain)", default: []].append(rule) }
        for kind in TableKind.allCases {
            let table = NftNames.table(kind)
            let tableChains = chains.filter { $0.family == nil && $0.table == table }
            guard !tableChains.isEmpty else { continue }
            lines.append("table inet \(table)")
            let decoded = tableChains.flatMap { byChain["\(table) \($0.chain)"] ?? [] }.compactMap(\.rule)
            lines += Self.setLines(Table(kind: kind, chains: [Chain(name: .output, rules: decoded)]).sets)
            for chain in tableChains {
                lines.append("\tchain \(chain.chain)\(chain.declaration ?? "")")
                for rule in byChain["\(table) \(chain.chain)"] ?? [] {
                    lines.append("\t\t" + (rule.rule.map(NftRenderer.statement) ?? "# not meshcap's: \(rule.text)"))
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    public func expected(_ desired: DesiredState) -> (rules: [ObservedRule], chains: [ObservedChain]) {
        var rules: [ObservedRule] = [], chains: [ObservedChain] = []
        for table in desired.ruleset(.inet)?.tables ?? [] {
            let name = NftNames.table(table.kind)
            for chain in table.chains {
                var declaration: String?
                if case .builtin(let hook) = chain.name {
                    declaration = Self.declaration(type: NftNames.chainType(table.kind, hook), hook: hook, priority: Int32(table.kind.priority(at: hook)))
                }
                chains.append(ObservedChain(family: nil, table: name, chain: NftNames.chain(chain.name), tableKind: table.kind,
                                            chainName: chain.name, meshcaps: true, declaration: declaration))
                rules += chain.rules.map { rule in
                    ObservedRule(family: nil, table: name, chain: NftNames.chain(chain.name), tableKind: table.kind, chainName: chain.name, owner: .meshcap,
                                 rule: RuleDecoder.canonical(rule, resolve: desired.resolve).for(rule.purpose), render: NftRenderer.statement, packets: 0, bytes: 0)
                }
            }
        }
        return (rules, chains)
    }

    /// A table's sets, an element a line, so that `diff` shows an element added or removed.
    static func setLines(_ sets: [NamedSet]) -> [String] {
        sets.flatMap { set in ["\tset \(set.name)"] + set.elements.map { "\t\t" + NftRenderer.element($0) } }
    }

    struct CounterKey: Hashable {
        let table: TableKind
        let chain: ChainName
        let index: Int
    }

    /// Where each rule of the tables about to be rebuilt that equals a live one starts counting:
    /// from that rule's numbers (`CarriedCounters`), by table, chain and place in the chain.
    static func carriedCounters(_ snapshot: NftSnapshot, _ ruleset: Ruleset, in tables: Set<TableKind>, resolve: OwnerResolver) -> [CounterKey: Counter] {
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

    static func shapes(of snapshot: NftSnapshot) -> [String: Shape] {
        var shapes: [String: Shape] = [:]
        for chain in snapshot.chains where chain.family == UInt32(NFPROTO_INET) && tables.contains(chain.table) {
            shapes[chain.table, default: Shape()].chains.append(
                describe(chain: chain.name, type: chain.type, hook: chain.hook, priority: chain.priority)
                + (chain.policy.map { $0 == UInt32(NF_ACCEPT) ? "" : " policy \($0)" } ?? ""))
        }
        // A rule without a counter is not meshcap's as written: the table is replaced by one that counts.
        for rule in snapshot.rules { shapes[rule.table, default: Shape()].rules[rule.chain, default: []].append(rule.counted ? rule.rule : nil) }
        return shapes
    }

    static func shapes(of ruleset: Ruleset, resolve: OwnerResolver) -> [String: Shape] {
        var shapes: [String: Shape] = [:]
        for table in ruleset.tables {
            var shape = Shape()
            for chain in table.chains {
                let name = NftNames.chain(chain.name)
                if case .builtin(let hook) = chain.name {
                    shape.chains.append(describe(chain: name, type: NftNames.chainType(table.kind, hook), hook: hook, priority: Int32(table.kind.priority(at: hook))))
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
