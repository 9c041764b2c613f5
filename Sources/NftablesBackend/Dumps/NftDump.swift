import MeshCapture

/// A saved nft ruleset as both of nft's outputs give it (`nft list ruleset` and `nft -j list
/// ruleset`), and what a reading makes of it: the rules of meshcap's three `inet` tables, as a
/// live nft host reads them; the other tables' base chains that see packets first, by the same
/// test as live (`NftDialect.ahead`); iptables-nft's ISTIO chains, which capture too.
struct NftDump {
    struct Chain {
        let family: String
        let table: String
        let name: String
        /// nil for a regular chain.
        let base: (type: String, hook: Hook?, priority: Int32?)?
    }

    struct Rule {
        let family: String
        let table: String
        let chain: String
        /// Its statements in meshcap's terms; nil when one is not a statement meshcap writes.
        let statements: [NftStatement]?
        /// As printed, for the report (not rendered from the model: that costs more than reading).
        let text: String
        let packets: UInt64
        let bytes: UInt64
        /// Whether it has a counter statement at all.
        let counted: Bool
    }

    /// A named set of meshcap's tables as listed: what it holds in the model's terms (nil for
    /// contents meshcap does not write), and its elements' counters.
    struct ListedSet {
        let set: NamedSet?
        let counters: [SetElement: (packets: UInt64, bytes: UInt64)]
    }

    var chains: [Chain] = []
    var rules: [Rule] = []
    /// By table and name.
    var sets: [String: ListedSet] = [:]

    /// The sets of one table, as rules look them up by name.
    func sets(in table: String) -> [String: NamedSet] {
        var found: [String: NamedSet] = [:]
        for (key, value) in sets where key.hasPrefix(table + " ") { found[String(key.dropFirst(table.count + 1))] = value.set }
        return found
    }

    /// A set as listed: its type and each element (nil for a value meshcap does not write: a
    /// range, a service name) with its counter. Counters stay with their elements, in whatever
    /// order the dump lists them.
    static func listedSet(name: String, type: String, entries: [(element: SetElement?, counter: (packets: UInt64, bytes: UInt64)?)]) -> ListedSet {
        var counters: [SetElement: (packets: UInt64, bytes: UInt64)] = [:]
        var prefixes: [Prefix] = [], ports: [Port] = []
        for entry in entries {
            switch entry.element {
            case .prefix(let prefix)?: prefixes.append(prefix)
            case .port(let port)?: ports.append(port)
            case nil: return ListedSet(set: nil, counters: [:])
            }
            if let element = entry.element, let counter = entry.counter { counters[element] = counter }
        }
        let set: NamedSet?
        switch type {
        case "ipv4_addr", "ipv6_addr":
            let family: Family = type == "ipv4_addr" ? .ipv4 : .ipv6
            let fits = ports.isEmpty && !prefixes.isEmpty && prefixes.allSatisfy { $0.family == family }
            set = fits ? .prefixes(PrefixSet(name: name, family: family, aggregated: prefixes)) : nil
        case "inet_service":
            set = prefixes.isEmpty && !ports.isEmpty ? .ports(PortSet(name: name, ports: ports)) : nil
        default:
            set = nil
        }
        return ListedSet(set: set, counters: set == nil ? [:] : counters)
    }

    static let meshcapTables = Set(TableKind.allCases.map(NftNames.table))

    func reading(source: String) -> CounterReading {
        var observed: [ObservedRule] = []
        for rule in rules where rule.family == "inet" && Self.meshcapTables.contains(rule.table) {
            // nft's text leaves out what the canonical form of a read-back rule keeps (see `RuleDecoder.listed`).
            let model = rule.statements.flatMap(NftStatement.rule).map { RuleDecoder.listed(RuleDecoder.canonical($0) { _, _ in nil }) }
            var elements: [ElementCount] = []
            for set in model?.matches.compactMap(\.namedSet) ?? [] where set.countsElements {
                let counters = sets["\(rule.table) \(set.name)"]?.counters ?? [:]
                elements += set.elements.map { ElementCount($0, packets: counters[$0]?.packets ?? 0, bytes: counters[$0]?.bytes ?? 0) }
            }
            observed.append(ObservedRule(family: nil, table: rule.table, chain: rule.chain,
                                         tableKind: TableKind.allCases.first { NftNames.table($0) == rule.table },
                                         chainName: RuleDecoder.chainName(rule.chain), owner: model == nil ? .other : .meshcap,
                                         rule: model, text: rule.text,
                                         packets: rule.packets, bytes: rule.bytes, counted: rule.counted, elements: elements))
        }
        var counts: [String: Int] = [:]
        for rule in rules { counts["\(rule.family) \(rule.table) \(rule.chain)", default: 0] += 1 }
        var dumped: [DumpedChain] = [], ruleCounts: [DumpedChain: Int] = [:]
        for chain in chains {
            guard let base = chain.base,
                  let one = DumpedChain(family: chain.family, table: chain.table, name: chain.name, type: base.type, hook: base.hook, priority: base.priority)
            else { continue }
            dumped.append(one)
            ruleCounts[one] = counts["\(chain.family) \(chain.table) \(chain.name)"] ?? 0
        }
        let ahead = NftDialect.ahead(dumped, contenders: NftDialect.contenders(dumped, all: dumped).map { ($0, ruleCounts[$0] ?? 0) })
        // iptables-nft keeps its tables in nf_tables too: ISTIO chains there capture as well.
        let istio = [("ip", Family.ipv4), ("ip6", .ipv6)].filter { family in
            chains.contains { $0.family == family.0 && ChainName.istioChains.contains(.regular($0.name)) }
        }.map(\.1)
        let elsewhere = istio.isEmpty ? [] : Residue(nftTables: [], iptables: [.nft: istio]).elsewhere(than: "nft")
        let meshcaps = chains.compactMap { chain -> ObservedChain? in
            guard chain.family == "inet", Self.meshcapTables.contains(chain.table),
                  let kind = TableKind.allCases.first(where: { NftNames.table($0) == chain.table }) else { return nil }
            return ObservedChain(family: nil, table: chain.table, chain: chain.name, tableKind: kind, chainName: RuleDecoder.chainName(chain.name), meshcaps: true,
                                 declaration: chain.base.flatMap { NftDialect.declaration(type: $0.type, hook: $0.hook, priority: $0.priority) })
        }
        return CounterReading(source: source, dialect: NftDialect(), rules: observed, chains: meshcaps, ahead: ahead, elsewhere: elsewhere, precision: .nftListing)
    }

    /// A base chain's priority as nft prints it: a number, or a name with an offset
    /// ("dstnat", "mangle - 5"); nil for one this reader does not know. The names' values depend
    /// on the family (nft(8), "PRIORITY").
    static func priority(_ words: [String], family: String) -> Int32? {
        let named: [String: Int32] = family == "bridge"
            ? ["dstnat": -300, "filter": -200, "out": 100, "srcnat": 300]
            : ["raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100]
        guard let first = words.first, let base = named[first] ?? Int32(first) else { return nil }
        switch words.count {
        case 1: return base
        case 3:
            guard let offset = Int32(words[2]), words[1] == "+" || words[1] == "-" else { return nil }
            let (value, overflow) = words[1] == "+" ? base.addingReportingOverflow(offset) : base.subtractingReportingOverflow(offset)
            return overflow ? nil : value
        default: return nil
        }
    }
}
