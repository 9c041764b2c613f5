extension RulesetDeclaration {
    /// The ruleset one layout sees.
    ///
    /// 1. Keep the rules for the families this layout carries and the config enables (or, for
    ///    an entry marked so, that the layout carries).
    /// 2. Apply appends and inserts in declaration order.
    /// 3. Drop jumps to chains left empty: such a jump does nothing, and Istio emits it only where
    ///    the target has rules (its DNS jumps are per family in iptables, one in nftables).
    /// 4. Drop empty chains, and tables without rules.
    public func resolve(for layout: Layout, families: Set<Family>) -> Ruleset {
        let tables = self.tables.compactMap { declared -> Table? in
            var chains = declared.chains.map { chain in
                Chain(name: chain.name, rules: chain.resolvedRules(layout: layout, families: families))
            }
            while true {
                let empty = Set(chains.filter(\.rules.isEmpty).map(\.name))
                let pruned = chains.map { chain in
                    Chain(name: chain.name, rules: chain.rules.filter { rule in
                        rule.target.jumpTarget.map { !empty.contains($0) } ?? true
                    })
                }
                if pruned == chains { break }
                chains = pruned
            }
            chains.removeAll { $0.rules.isEmpty }
            return chains.isEmpty ? nil : Table(kind: declared.kind, chains: chains)
        }
        return Ruleset(layout: layout, tables: tables)
    }
}

extension ChainDeclaration {
    func resolvedRules(layout: Layout, families: Set<Family>) -> [Rule] {
        var rules: [Rule] = []
        for entry in entries {
            if let family = entry.rule.family, !(layout.carries(family) && (families.contains(family) || entry.everyFamily)) {
                continue
            }
            switch entry.placement {
            case .append:
                rules.append(entry.rule)
            case .insert(let index):
                rules.insert(entry.rule, at: min(max(index, 0), rules.count))
            }
        }
        return rules
    }
}
