import MeshCapture

/// How one iptables table of one family gets from what iptables-save shows to what the plan
/// wants, touching nothing but meshcap's: its chains (ISTIO_*) and its rules in the built-in
/// chains. The result is `iptables-restore --noflush` input: one transaction for the table.
///
/// - A built-in chain's rules that are meshcap's form one block: appended the first time,
///   replaced in place afterwards (so another tool's rules keep their order around it), and left
///   alone when they already are the wanted ones (so a second apply changes nothing, counters
///   included). They are written with meshcap's ownership comment.
/// - Which rules in a built-in chain are meshcap's: those with the comment, any jump into one of
///   meshcap's chains (Istio's leftovers included, which would otherwise capture twice), and an
///   untagged rule identical to one the config puts there (Istio's own, from the same config).
/// - An ISTIO chain whose rules are already the wanted ones is left alone; one that differs is
///   declared (which flushes it) and refilled; one the config no longer has is flushed and deleted.
/// - A rule written again unchanged keeps its counters (`[packets:bytes]`, for
///   `iptables-restore --counters`): only what the config changes starts from zero.
public enum IptablesTransition {
    /// - Parameters:
    ///   - live: the table as iptables-save shows it; nil if the table does not exist.
    ///   - desired: meshcap's rules for the table; nil to remove meshcap's rules from it.
    ///   - known: rules in canonical form that, untagged in that very table and built-in chain,
    ///     are meshcap's (or Istio's) too: the built-in rules of the configs in play.
    /// - Returns: restore input, or nil when nothing would change.
    public static func input(live: IptablesSave.Table?, desired: Table?, family: Family, known: Set<KnownRule>,
                             resolve: (String, Bool) -> UInt32?) -> String? {
        guard let name = live?.name ?? desired?.kind.rawValue else { return nil }
        let wanted: [ChainName: [Rule]] = Dictionary(uniqueKeysWithValues: (desired?.chains ?? []).map { chain in
            (chain.name, chain.rules.map { IptablesRenderer.canonical($0, resolve: resolve) })
        })
        var declarations: [String] = [], deletions: [String] = [], additions: [String] = [], removals: [String] = []
        var counters = CarriedCounters()

        // Built-in chains: meshcap's block in each.
        let builtins = (live?.chains.filter { $0.policy != nil }.map(\.name) ?? [])
            + wanted.keys.compactMap { if case .builtin = $0 { $0.description } else { nil } }
        var seen = Set<String>()
        for chainName in builtins where seen.insert(chainName).inserted {
            let rules = live?.chain(chainName)?.rules ?? []
            let istio = istios(in: rules, table: name, chain: chainName)
            let owned = rules.indices.filter { isOwned(rules[$0], table: name, chain: chainName, known: known, istio: istio) }
            let target = wanted.first { $0.key.description == chainName }?.value ?? []
            let current: [Rule?] = owned.map { rules[$0].rule }
            let unchanged = current == target.map { Optional($0) } && owned.allSatisfy { rules[$0].tagged }
                && owned == Array((owned.first ?? 0)..<((owned.first ?? 0) + owned.count))
            if unchanged { continue }
            deletions += owned.map { "-D " + rules[$0].text.dropFirst("-A ".count) }
            for index in owned { counters.remember(rules[index], in: chainName) }
            // After the deletions, the block starts where the first of meshcap's rules stood.
            let position = owned.first.map { first in 1 + rules[..<first].indices.filter { !owned.contains($0) }.count }
            for (offset, rule) in target.enumerated() {
                let words = IptablesRenderer.text(IptablesRenderer.words(rule, family: family, tagged: true))
                additions.append(counters.prefix(rule, in: chainName) + (position.map { "-I \(chainName) \($0 + offset) \(words)" } ?? "-A \(chainName) \(words)"))
            }
        }

        // meshcap's own chains.
        let liveChains = live?.chains.filter { ChainName.istioChains.contains(.regular($0.name)) } ?? []
        for (chainName, rules) in wanted.sorted(by: { $0.key.description < $1.key.description }) {
            guard case .regular(let regular) = chainName else { continue }
            let current = liveChains.first { $0.name == regular }
            if let current, current.rules.map(\.rule) == rules.map({ Optional($0) }) { continue }
            declarations.append(":\(regular) - [0:0]")
            for rule in current?.rules ?? [] { counters.remember(rule, in: regular) }
            additions += rules.map { counters.prefix($0, in: regular) + IptablesRenderer.appendLine(chainName, $0, family: family) }
        }
        for chain in liveChains where wanted[.regular(chain.name)] == nil {
            declarations.append(":\(chain.name) - [0:0]")
            removals.append("-X \(chain.name)")
        }

        guard !(declarations.isEmpty && deletions.isEmpty && additions.isEmpty && removals.isEmpty) else { return nil }
        return (["*\(name)"] + declarations + deletions + additions + removals + ["COMMIT"]).joined(separator: "\n") + "\n"
    }

    /// Whether a rule in a built-in chain is meshcap's: tagged, a jump into an ISTIO chain, one of
    /// Istio's own rules there (`istio`, made of the chain's rules by `istios(in:table:chain:)`),
    /// or (untagged) a rule `known` places in this table and chain.
    public static func isOwned(_ saved: IptablesSave.SavedRule, table: String, chain: String, known: Set<KnownRule>,
                               istio: Purpose.IstiosInBuiltinChain?) -> Bool {
        if saved.tagged { return true }
        guard let rule = saved.rule else { return false }
        if let jump = rule.target.jumpTarget, ChainName.istioChains.contains(jump) { return true }
        if istio?.contains(rule) == true { return true }
        return known.contains(KnownRule(table: table, chain: chain, rule: rule))
    }

    /// Istio's own rules among a built-in chain's; nil for a table meshcap does not read.
    public static func istios(in rules: [IptablesSave.SavedRule], table: String, chain: String) -> Purpose.IstiosInBuiltinChain? {
        TableKind(rawValue: table).map { Purpose.IstiosInBuiltinChain(table: $0, chain: IptablesDialect.chainName(chain), rules: rules.compactMap(\.rule)) }
    }

    /// A rule a config puts into a built-in chain, in canonical form, and where.
    public struct KnownRule: Hashable, Sendable {
        public let table: String
        public let chain: String
        public let rule: Rule

        public init(table: String, chain: String, rule: Rule) {
            self.table = table
            self.chain = chain
            self.rule = rule
        }
    }

    /// The rules a ruleset puts into built-in chains: what `known` is made of.
    public static func builtinRules(_ ruleset: Ruleset, resolve: (String, Bool) -> UInt32?) -> Set<KnownRule> {
        Set(ruleset.tables.flatMap { table in
            table.chains.filter { if case .builtin = $0.name { true } else { false } }.flatMap { chain in
                chain.rules.map { KnownRule(table: table.kind.rawValue, chain: chain.name.description, rule: IptablesRenderer.canonical($0, resolve: resolve)) }
            }
        })
    }
}

extension CarriedCounters {
    mutating func remember(_ saved: IptablesSave.SavedRule, in chain: String) {
        if let rule = saved.rule { remember(rule, in: chain, packets: saved.packets, bytes: saved.bytes) }
    }

    /// "[packets:bytes] " before a rule's line, for `iptables-restore --counters`; nothing for a new rule.
    mutating func prefix(_ rule: Rule, in chain: String) -> String {
        take(rule, in: chain).map { "[\($0.packets):\($0.bytes)] " } ?? ""
    }
}
