import MeshCapture
import NftablesBackend

/// meshcap's live rules held against the config's, chain by chain: the one comparison `verify`
/// (rows and drift), `diff` (whether anything differs, and the two sides it prints) and
/// `explain --live` (the live ruleset it walks) read. The same for a live host and a saved dump:
/// both arrive as observed rules and chains, and the config's side comes from the same dialect
/// (`Dialect.expected`) in the same form.
///
/// Without a config, what each rule is for is recognised from where it sits
/// (`Purpose.recognised`), and nothing is drift.
public struct Comparison: Sendable {
    /// meshcap's (and Istio's) live rules of one chain of one layout, in order, each with what
    /// it is for (nil: a rule meshcap does not write there).
    public struct Place: Sendable {
        public struct ID: Hashable, Sendable {
            public let layout: Layout
            public let table: TableKind
            public let chain: ChainName
        }

        public let id: ID
        public internal(set) var rules: [ObservedRule]
        public internal(set) var purposes: [Purpose?] = []
        public var layout: Layout { id.layout }
        public var table: TableKind { id.table }
        public var chain: ChainName { id.chain }
    }

    public let places: [Place]
    public let againstConfig: Bool
    /// The config's rules not live where it puts them.
    public let missing: Int
    /// Live rules in meshcap's places that are not the config's there.
    public let extra: Int
    /// Places whose rules are the config's, in another order (they run differently).
    public let reordered: Int
    /// meshcap's chains declared otherwise than the config declares them (an nft base chain's
    /// type, hook, priority or policy), and empty ones only one side has.
    public let chainsRedeclared: [ObservedChain]
    public let chainsMissing: [ObservedChain]
    public let chainsExtra: [ObservedChain]
    /// Other software's rules in the chains read.
    public let others: [ObservedRule]
    /// The config's side, as the rules were read in (`expected(for:_:)`): what `diff` prints.
    public let expected: (rules: [ObservedRule], chains: [ObservedChain])?
    /// meshcap's (and Istio's) rules without a counter: the capture is the config's, but `apply`
    /// replaces them with rules that count, so `diff` says so (verify only notes it).
    public let uncounted: Int

    /// Whether the live rules are not the config's.
    public var drifted: Bool {
        againstConfig && missing + extra + reordered + chainsRedeclared.count + chainsMissing.count + chainsExtra.count > 0
    }

    /// - Parameters:
    ///   - chains: the chains as read; nil for a reading made of rules alone (as tests make
    ///     them), and then chains are not compared, only rules.
    ///   - expected: the config's side in the form the rules were read in (`expected(for:_:)`),
    ///     nil without a config.
    public init(rules: [ObservedRule], chains: [ObservedChain]?, expected: (rules: [ObservedRule], chains: [ObservedChain])?) {
        var places = Self.places(rules)
        // The config's rules per place, in order, and each rule's purposes in order.
        var sequences: [Place.ID: [Rule]] = [:], purposes: [Place.ID: [Rule: ArraySlice<Purpose>]] = [:], order: [Place.ID] = []
        for observed in expected?.rules ?? [] {
            guard let id = Self.id(observed), let rule = observed.rule else { continue }
            let purpose = rule.purpose
            if sequences[id] == nil { order.append(id) }
            sequences[id, default: []].append(rule)
            if let purpose { purposes[id, default: [:]][rule, default: []].append(purpose) }
        }
        var missing = 0, extra = 0, reordered = 0
        for index in places.indices {
            let place = places[index]
            // What a rule is for depends on its place among the chain's rules meshcap reads.
            let modelRules = place.rules.compactMap(\.rule)
            // Recognised only where a rule is not the config's: against a config, usually nowhere.
            var recognised: [Purpose?]?
            // Taken out, not copied: a copy of 10,000 rules' purposes per place was 4% of verify.
            var wanted = purposes.removeValue(forKey: place.id) ?? [:]
            var unmatched = 0, position = -1
            places[index].purposes = place.rules.map { observed in
                guard let rule = observed.rule else {
                    if expected != nil { unmatched += 1 }
                    return nil
                }
                position += 1
                var purpose: Purpose?
                if expected != nil {
                    purpose = wanted[rule]?.popFirst()
                    if purpose == nil { unmatched += 1 }
                }
                if let purpose { return purpose }
                if recognised == nil { recognised = Purpose.recognised(table: place.table, chain: place.chain, rules: modelRules) }
                return recognised?[position] ?? nil
            }
            let unlive = wanted.values.reduce(0) { $0 + $1.count }
            // The same rules in another order run differently: drift too.
            if expected != nil, unlive == 0, unmatched == 0, modelRules != sequences[place.id] ?? [] { reordered += 1 }
            missing += unlive
            extra += unmatched
        }
        // Whole chains of the config's that are not live at all.
        let present = Set(places.map(\.id))
        for id in order where !present.contains(id) { missing += sequences[id]?.count ?? 0 }

        var redeclared: [ObservedChain] = [], absent: [ObservedChain] = [], unexpected: [ObservedChain] = []
        if let chains, let expected {
            func key(_ chain: ObservedChain) -> Place.ID { Place.ID(layout: chain.layout, table: chain.tableKind, chain: chain.chainName) }
            let live = Dictionary(chains.filter(\.meshcaps).map { (key($0), $0) }) { first, _ in first }
            let wanted = Dictionary(expected.chains.filter(\.meshcaps).map { (key($0), $0) }) { first, _ in first }
            let ruled = Set(expected.rules.compactMap(Self.id)).union(present)
            for chain in expected.chains where chain.meshcaps {
                if let found = live[key(chain)] {
                    if found.declaration != chain.declaration { redeclared.append(found) }
                } else if !ruled.contains(key(chain)) {
                    absent.append(chain)
                }
            }
            // A chain with rules that is not the config's already counts its rules as not its own.
            unexpected = chains.filter { $0.meshcaps && wanted[key($0)] == nil && !present.contains(key($0)) }
        }

        self.places = places
        againstConfig = expected != nil
        self.missing = missing
        self.extra = extra
        self.reordered = reordered
        chainsRedeclared = redeclared
        chainsMissing = absent
        chainsExtra = unexpected
        others = rules.filter { $0.owner == .other }
        self.expected = expected
        uncounted = places.reduce(0) { $0 + $1.rules.count { !$0.counted } }
    }

    /// A reading (live or dumped) against the config's rules in the reading's dialect.
    public init(_ reading: CounterReading, desired: DesiredState?) {
        self.init(rules: reading.rules, chains: reading.chains, expected: desired.map { Self.expected(for: reading, $0) })
    }

    /// The config's rules and chains as `reading` would show them: from `nft list` text, without
    /// what that text leaves out (`RuleDecoder.listed`), so that both are compared, and printed,
    /// in one form.
    public static func expected(for reading: CounterReading, _ desired: DesiredState) -> (rules: [ObservedRule], chains: [ObservedChain]) {
        let expected = reading.dialect.expected(desired)
        guard reading.precision == .nftListing else { return expected }
        return (expected.rules.map { observed in observed.rule.map { observed.with(rule: RuleDecoder.listed($0).for($0.purpose)) } ?? observed }, expected.chains)
    }

    /// The live rules of one layout as the model's ruleset, for `explain --live`.
    public func ruleset(_ layout: Layout) -> Ruleset {
        Ruleset(live: places.flatMap(\.rules), layout: layout)
    }

    /// The drift in one sentence's parts ("2 of its rules are missing there, ..."); nil when none.
    public var driftSentence: String? {
        guard drifted else { return nil }
        func count(_ number: Int, _ one: String, _ many: String) -> String { "\(number) \(number == 1 ? one : many)" }
        // The rules' side when they differ (all of it, zeros included: each says where to look).
        var parts = missing + extra + reordered == 0 ? []
            : [count(missing, "of its rules is", "of its rules are") + " missing there", count(extra, "rule there is", "rules there are") + " not its own"]
        if reordered > 0 { parts.append(count(reordered, "chain holds", "chains hold") + " its rules in another order") }
        let chains = chainsRedeclared.map { "\($0.table) \($0.chain) is declared\($0.declaration ?? " as a regular chain")" }
            + chainsMissing.map { "its chain \($0.table) \($0.chain) is missing" } + chainsExtra.map { "\($0.table) \($0.chain) is not its chain" }
        return (parts + chains).joined(separator: ", ")
    }

    static func id(_ rule: ObservedRule) -> Place.ID? {
        rule.tableKind.map { Place.ID(layout: rule.family.map(Layout.xtables) ?? .inet, table: $0, chain: rule.chainName) }
    }

    /// A dictionary value read through its modify accessor: with a default, a missing key is
    /// inserted with it in the same lookup (the next index of an array being filled).
    static func slot(_ value: inout Int) -> Int { value }

    static func places(_ rules: [ObservedRule]) -> [Place] {
        // In first-seen order, each found through an index: appending through a dictionary's
        // optional subscript copied a 10,000-rule chain's array again and again.
        var places: [Place] = [], index: [Place.ID: Int] = [:]
        for rule in rules where rule.owner != .other {
            guard let id = id(rule) else { continue }
            let at = Self.slot(&index[id, default: places.count])
            if at == places.count { places.append(Place(id: id, rules: [])) }
            places[at].rules.append(rule)
        }
        let tableOrder = TableKind.allCases
        return places.enumerated().sorted {
            (tableOrder.firstIndex(of: $0.element.table) ?? 0, $0.offset) < (tableOrder.firstIndex(of: $1.element.table) ?? 0, $1.offset)
        }.map(\.element)
    }
}
