extension Ruleset {
    /// The live rules of one layout as the model's ruleset, for `explain --live`: meshcap's and
    /// Istio's rules in their chains, in the order read. Another program's rules cannot be walked
    /// (they are not in the model): they are left out and counted, for the caller to say so.
    public init(live rules: [ObservedRule], layout: Layout) {
        var order: [TableKind] = []
        var chains: [TableKind: [(name: ChainName, rules: [Rule])]] = [:]
        for observed in rules {
            guard let kind = observed.tableKind, let rule = observed.rule, observed.belongs(to: layout) else { continue }
            if chains[kind] == nil { order.append(kind) }
            var list = chains[kind, default: []]
            if let at = list.firstIndex(where: { $0.name == observed.chainName }) { list[at].rules.append(rule) } else { list.append((observed.chainName, [rule])) }
            chains[kind] = list
        }
        self.init(layout: layout, tables: order.map { kind in Table(kind: kind, chains: chains[kind]!.map { Chain(name: $0.name, rules: $0.rules) }) })
    }

    /// How many of `rules` (in this layout) another program wrote: not walked.
    public static func unwalked(_ rules: [ObservedRule], layout: Layout) -> Int {
        rules.filter { $0.belongs(to: layout) && $0.rule == nil }.count
    }
}
