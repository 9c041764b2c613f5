import MeshCapture

/// The iptables dialect: ISTIO chains and meshcap's rules in the built-in chains of nat, mangle
/// and raw, per family, as `iptables-save -c` prints them. A change is one
/// `iptables-restore --noflush` transaction per table and family, in make-before-break order.
/// The same text drives both variants (iptables-nft and iptables-legacy): the host names the tool.
public struct IptablesDialect: Dialect {
    public typealias Reading = [Family: IptablesSave]
    public typealias Steps = [RestoreStep]

    /// One table's transaction.
    public struct RestoreStep: Sendable {
        public let family: Family
        public let table: String
        public let input: String
    }

    /// The restore tool per family, as `--dry-run` names it (`iptables-nft-restore`).
    public let restoreTools: [Family: String]

    public init(restoreTools: [Family: String] = [.ipv4: "iptables-restore", .ipv6: "ip6tables-restore"]) {
        self.restoreTools = restoreTools
    }

    public var syntax: String { "iptables" }

    public static let tables = ["nat", "mangle", "raw"]

    public func layouts(_ families: [Family]) -> [Layout] { families.sorted().map { .xtables($0) } }
    public func table(_ kind: TableKind) -> String { kind.rawValue }
    public func chain(_ name: ChainName) -> String { name.description }
    public func statement(_ rule: Rule, family: Family) -> String { IptablesRenderer.text(IptablesRenderer.words(rule, family: family)) }
    public func canonical(_ rule: Rule, resolve: OwnerResolver) -> Rule { IptablesRenderer.canonical(rule, resolve: resolve) }
    public func isEmpty(_ steps: Steps) -> Bool { steps.isEmpty }

    public func text(of steps: Steps) -> String {
        steps.map { "# \(restoreTools[$0.family] ?? "iptables-restore") --noflush --counters\n\($0.input)" }.joined()
    }

    public func live(_ reading: Reading) -> LiveRules<Reading> {
        var rules: [ObservedRule] = [], ahead: [Ahead] = [], chains: [ObservedChain] = []
        for family in Family.allCases {
            guard let save = reading[family] else { continue }
            let classified = Self.classify(save)
            rules += classified.rules
            ahead += classified.ahead
            chains += classified.chains
        }
        return LiveRules(rules: rules, ahead: ahead, chains: chains, reading: reading)
    }

    /// One family's tables as iptables-save prints them, sorted into meshcap's, Istio's and
    /// other software's rules (in nat, mangle and raw), the foreign rules ahead of meshcap's, and
    /// the chains (built-in ones and ISTIO ones, in the save's order): the same for a live host
    /// and a saved `iptables-save -c`.
    static func classify(_ save: IptablesSave) -> (rules: [ObservedRule], ahead: [Ahead], chains: [ObservedChain]) {
        var rules: [ObservedRule] = [], ahead: [Ahead] = [], chains: [ObservedChain] = []
        let tool = save.family == .ipv4 ? "iptables" : "ip6tables"
        for table in save.tables where tables.contains(table.name) {
            guard let kind = TableKind(rawValue: table.name) else { continue }
            for chain in table.chains {
                let meshcapChain = ChainName.istioChains.contains(.regular(chain.name))
                // Istio ambient's in-pod chain is kept as a chain (not meshcap's) so verify can
                // say whose rules these are; its rules are not read.
                if chain.name == Istio.ambientChain {
                    chains.append(ObservedChain(family: save.family, table: table.name, chain: chain.name, tableKind: kind,
                                                chainName: chainName(chain.name), meshcaps: false, declaration: nil))
                }
                guard meshcapChain || chain.policy != nil else { continue }
                chains.append(ObservedChain(family: save.family, table: table.name, chain: chain.name, tableKind: kind,
                                            chainName: chainName(chain.name), meshcaps: meshcapChain, declaration: nil))
                var seenMeshcap = false
                var before: [Ahead] = []
                let istio = meshcapChain ? nil : IptablesTransition.istios(in: chain.rules, table: table.name, chain: chain.name)
                for saved in chain.rules {
                    let owner: ObservedRule.Owner = meshcapChain || saved.tagged ? .meshcap
                        : IptablesTransition.isOwned(saved, table: table.name, chain: chain.name, known: [], istio: istio) ? .istio : .other
                    if owner == .other && !seenMeshcap, let (why, ends) = decisive(saved) {
                        // A jump's counter says how many packets it passed on, not how many its chain kept.
                        before.append(Ahead(sentence: "\(tool) \(table.name) \(chain.name): `\(saved.text)` (\(why)) runs before meshcap's rules",
                                            packets: ends ? saved.packets : nil))
                    }
                    if owner != .other { seenMeshcap = true }
                    rules.append(ObservedRule(family: save.family, table: table.name, chain: chain.name, tableKind: TableKind(rawValue: table.name),
                                              chainName: chainName(chain.name), owner: owner, rule: owner == .other ? nil : saved.rule,
                                              text: saved.text, packets: saved.packets, bytes: saved.bytes))
                }
                // What comes before meshcap's first rule in a built-in chain decides first.
                if seenMeshcap && !meshcapChain { ahead += before }
            }
        }
        return (rules, ahead, chains)
    }

    /// Istio ambient's in-pod redirection names its chains as the sidecar's are named (its
    /// ISTIO_OUTPUT in nat, mangle and raw) beside its own ISTIO_PRERT: an apply would replace
    /// ztunnel's outbound half, a clean remove it, either leaving ISTIO_PRERT behind. Refused
    /// before anything is sent.
    static func refuseAmbient(_ reading: Reading) throws {
        for family in Family.allCases {
            guard let save = reading[family] else { continue }
            let ambient = save.tables.filter { $0.chain(Istio.ambientChain) != nil }.map(\.name)
            guard ambient.isEmpty else {
                throw HostError("\(family == .ipv4 ? "iptables" : "ip6tables") \(ambient.joined(separator: ", ")) hold\(ambient.count == 1 ? "s" : "") \(Istio.ambientChain): Istio ambient's in-pod redirection (ztunnel's), whose ISTIO_OUTPUT chains have the names of the sidecar's; meshcap would replace or remove half of it, so it changes nothing here (take the workload out of ambient first)")
            }
        }
    }

    /// Why a foreign rule ahead of meshcap's may take a packet before meshcap sees it, and
    /// whether the rule itself ends the packet's way (a jump may or may not); nil if it cannot
    /// (a counter, a LOG, a MARK).
    static func decisive(_ rule: IptablesSave.SavedRule) -> (why: String, ends: Bool)? {
        let words = IptablesParser.words(Substring(rule.text))
        guard let jump = words.firstIndex(of: "-j"), jump + 1 < words.count else { return nil }
        let target = words[jump + 1]
        let terminal = ["ACCEPT", "DROP", "REJECT", "RETURN", "DNAT", "REDIRECT", "SNAT", "MASQUERADE", "TPROXY"]
        let passes = ["LOG", "MARK", "CONNMARK", "CT", "NFLOG", "TRACE", "CHECKSUM"]
        if terminal.contains(target) { return ("it ends with \(target)", true) }
        if passes.contains(target) { return nil }
        return ("it jumps to \(target)", false)
    }

    public func changes(to desired: DesiredState, from reading: Reading) throws -> Changes<Steps> {
        try Self.refuseAmbient(reading)
        return transitions(from: reading, resolve: desired.resolve) { family in desired.ruleset(.xtables(family)) }
    }

    public func removal(from reading: Reading, recognising config: DesiredState?) throws -> Changes<Steps> {
        try Self.refuseAmbient(reading)
        let numeric: OwnerResolver = { _, _ in nil }
        return transitions(from: reading, resolve: config.map { $0.resolve } ?? numeric, recognising: config, desired: { _ in nil })
    }

    func transitions(from saves: Reading, resolve: @escaping OwnerResolver, recognising config: DesiredState? = nil,
                     desired: (Family) -> Ruleset?) -> Changes<Steps> {
        // Make before break: tables that take up capture first, tables that give it up last, so
        // that between two steps (and after a kill between them) what was captured still is:
        // REDIRECT to TPROXY adds mangle's TPROXY before nat stops redirecting inbound, and back.
        var steps: [(order: Int, step: RestoreStep)] = []
        var making: [MadeTable] = []
        for family in Family.allCases {
            let ruleset = desired(family)
            var known = Set<IptablesTransition.KnownRule>()
            for source in [ruleset, config?.ruleset(.xtables(family))].compactMap({ $0 }) {
                known.formUnion(IptablesTransition.builtinRules(source, resolve: resolve))
            }
            for name in Self.tables {
                let live = saves[family]?.table(name)
                let wanted = ruleset?.table(TableKind(rawValue: name) ?? .nat)
                guard let input = IptablesTransition.input(live: live, desired: wanted, family: family, known: known, resolve: resolve) else { continue }
                let holdsMeshcap = live?.chains.contains { ChainName.istioChains.contains(.regular($0.name)) } ?? false
                let order = !holdsMeshcap ? 0 : wanted == nil ? 2 : 1
                steps.append((order, RestoreStep(family: family, table: name, input: input)))
                if live == nil { making.append(MadeTable(family: family, name: name)) }
            }
        }
        let ordered = steps.enumerated().sorted { ($0.element.order, $0.offset) < ($1.element.order, $1.offset) }.map(\.element.step)
        let summary = ordered.map { step -> String in
            let lines = step.input.split(separator: "\n")
            let added = lines.filter { $0.hasPrefix("-A ") || $0.hasPrefix("-I ") }.count
            let removed = lines.filter { $0.hasPrefix("-D ") }.count
            let deleted = lines.filter { $0.hasPrefix("-X ") }.count
            let parts = [(added, "rule", " written"), (removed, "rule", " removed from built-in chains"), (deleted, "chain", " deleted")]
                .filter { $0.0 > 0 }.map { "\($0.0) \($0.1)\($0.0 == 1 ? "" : "s")\($0.2)" }
            return "\(step.family.label) \(step.table): \(parts.isEmpty ? "chains declared" : parts.joined(separator: ", "))"
        }
        return Changes(summary: summary, steps: ordered, making: making)
    }

    public func view(of rules: [ObservedRule], chains: [ObservedChain]) -> String {
        var lines: [String] = []
        // Each chain's rules, in the order read: one pass, not one per chain.
        var byChain: [String: [ObservedRule]] = [:]
        for rule in rules where rule.owner != .other {
            byChain["\(rule.family?.rawValue ?? "") \(rule.table) \(rule.chain)", default: []].append(rule)
        }
        for family in Family.allCases {
            for table in Self.tables.sorted() {
                var tableLines: [String] = []
                // Chains in one order for both sides, whatever order the tool lists them in
                // (iptables-nft lists them as they were made): built-in ones by hook, then
                // meshcap's by name. Their order means nothing to the kernel.
                let tableChains = chains.filter { $0.family == family && $0.table == table }
                let ordered = Hook.allCases.compactMap { hook in tableChains.first { $0.chainName == .builtin(hook) } }
                    + tableChains.filter(\.meshcaps).sorted { $0.chain < $1.chain }
                for chain in ordered {
                    if chain.meshcaps { tableLines.append(":\(chain.chain)") }
                    // meshcap's chains whole; in the built-in chains, meshcap's rules (and Istio's jumps).
                    for observed in byChain["\(family.rawValue) \(table) \(chain.chain)"] ?? [] {
                        let tagged = observed.owner == .meshcap && !chain.meshcaps
                        tableLines.append(observed.rule.map { IptablesRenderer.appendLine(chain.chainName, $0, family: family, tagged: tagged) } ?? observed.text)
                    }
                }
                if !tableLines.isEmpty { lines += ["*\(table) (\(family.label))"] + tableLines }
            }
        }
        return lines.joined(separator: "\n")
    }


    public func expected(_ desired: DesiredState) -> (rules: [ObservedRule], chains: [ObservedChain]) {
        var rules: [ObservedRule] = [], chains: [ObservedChain] = []
        for family in Family.allCases {
            guard let ruleset = desired.ruleset(.xtables(family)) else { continue }
            // In iptables-save's order: built-in chains first, then meshcap's by name.
            for table in ruleset.tables {
                let builtins = Hook.allCases.compactMap { hook in table.chain(.builtin(hook)) }
                let regulars = table.chains.filter { if case .regular = $0.name { true } else { false } }.sorted { $0.name.description < $1.name.description }
                for chain in builtins + regulars {
                    let builtin = builtins.contains(chain)
                    chains.append(ObservedChain(family: family, table: table.kind.rawValue, chain: chain.name.description, tableKind: table.kind,
                                                chainName: chain.name, meshcaps: !builtin, declaration: nil))
                    rules += chain.rules.map { rule in
                        // The plan's purpose kept: what the comparison counts a matching live rule for.
                        let canonical = IptablesRenderer.canonical(rule, resolve: desired.resolve).for(rule.purpose)
                        // Its text only when `diff` prints it: 10,000 lines cost verify 6% of its time.
                        return ObservedRule(family: family, table: table.kind.rawValue, chain: chain.name.description, tableKind: table.kind,
                                            chainName: chain.name, owner: .meshcap, rule: canonical,
                                            render: { [name = chain.name] in IptablesRenderer.appendLine(name, $0, family: family, tagged: builtin) },
                                            packets: 0, bytes: 0)
                    }
                }
            }
        }
        return (rules, chains)
    }

    public static func chainName(_ name: String) -> ChainName {
        Hook(rawValue: name.lowercased()).map { .builtin($0) } ?? .regular(name)
    }
}
