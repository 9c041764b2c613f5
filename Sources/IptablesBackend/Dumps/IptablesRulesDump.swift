import MeshCapture

/// `iptables -t TABLE -S -v` (and ip6tables'): the rules as iptables-save writes them, each with
/// its counters inside it as `-c PACKETS BYTES`, chains declared with `-P` (built-in, with a
/// policy) and `-N`. The output names no table (the command did): each listing's table is told
/// by its built-in chains, and listings of several tables may follow one another, each from its
/// `-P` lines. Read into iptables-save's form and sorted by `IptablesDialect.classify`, as a
/// live host's are.
public enum IptablesRulesDump {
    static let allowed = "the lines iptables -t TABLE -S -v prints: -P CHAIN POLICY -c PACKETS BYTES, -N CHAIN, -A CHAIN RULE with -c PACKETS BYTES"

    /// One table's listing: its built-in chains with their policies, its regular chains, and its
    /// rules as iptables-save would print them.
    struct Listing {
        let line: Int
        var policies: [(chain: String, policy: String)] = []
        var chains: [String] = []
        var rules: [String] = []
        var shown: (family: Family, line: Int)?
    }

    public static func read(_ dump: DumpText, source: String) throws(DumpError) -> CounterReading {
        var listings: [Listing] = []
        for (index, raw) in dump.lines.enumerated() {
            let number = index + 1
            let line = raw.withoutBlanks
            func fail(_ problem: String) -> DumpError { dump.error(number, problem, allowed: allowed) }
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard IptablesSaveDump.quotesClose(Substring(line)) else { throw fail("a quote in \(DumpText.quoted(line)) is not closed: the line is cut short") }
            var words = IptablesParser.words(Substring(line))
            guard words.count >= 2 else { throw fail("\(DumpText.quoted(line)) is not a line iptables -S prints") }
            // The next table's listing begins with its first built-in chain: after rules or
            // chains, or at a chain that does not come later in hook order than the last one
            // (iptables lists them PREROUTING, INPUT, FORWARD, OUTPUT, POSTROUTING; a table
            // with nothing in it is its -P lines alone).
            if words[0] == "-P", listings.last.map({ listing in
                !listing.chains.isEmpty || !listing.rules.isEmpty
                    || (listing.policies.last.map { Self.hookOrder($0.chain) >= Self.hookOrder(words[1]) } ?? false)
            }) ?? true {
                listings.append(Listing(line: number))
            }
            guard var listing = listings.popLast() else {
                throw fail("\(DumpText.quoted(line)) comes before any -P line: the listing is cut short at the top, or this is not iptables -S output")
            }
            defer { listings.append(listing) }
            let counted = try counters(&words, fail)
            // What is left once the counts are out must still be a line (`-c 1 2` alone is not).
            guard words.count >= 2 else { throw fail("\(DumpText.quoted(line)) is not a line iptables -S prints") }
            switch words[0] {
            case "-P":
                guard words.count == 3, words[2].allSatisfy(\.isUppercase) else { throw fail("\(DumpText.quoted(line)) is not a built-in chain's policy") }
                listing.policies.append((words[1], words[2]))
            case "-N":
                guard words.count == 2 else { throw fail("\(DumpText.quoted(line)) is not a chain declaration") }
                listing.chains.append(words[1])
            case "-A":
                guard let counted else { throw fail("\(DumpText.quoted(line)) has no counters: list with iptables -t TABLE -S -v") }
                guard listing.policies.contains(where: { $0.chain == words[1] }) || listing.chains.contains(words[1]) else {
                    throw fail("a rule in chain \(words[1]), which this listing does not declare")
                }
                if let family = IptablesSaveDump.addressFamily(words) {
                    if let shown = listing.shown, shown.family != family {
                        throw fail("an \(IptablesSaveDump.name(family)) address in a listing whose rules (line \(shown.line)) are \(IptablesSaveDump.name(shown.family)): two families in one listing")
                    }
                    listing.shown = listing.shown ?? (family, number)
                }
                listing.rules.append("[\(counted.packets):\(counted.bytes)] " + IptablesRenderer.text(words))
            default:
                throw fail("\(DumpText.quoted(line)) is not a line iptables -S prints")
            }
        }
        guard !listings.isEmpty else { throw dump.error(max(dump.lines.count, 1), "the listing is empty", allowed: allowed) }

        var saves: [Family: [String]] = [:], seen = Set<String>()
        for listing in listings {
            let table = try self.table(listing, dump)
            let family = listing.shown?.family ?? (seen.contains("\(Family.ipv4) \(table)") ? .ipv6 : .ipv4)
            guard seen.insert("\(family) \(table)").inserted else {
                throw dump.error(listing.line, "table \(table) of \(IptablesSaveDump.name(family)) is listed twice", allowed: "one listing per table and family")
            }
            saves[family, default: []] += ["*\(table)"] + listing.policies.map { ":\($0.chain) \($0.policy) [0:0]" }
                + listing.chains.map { ":\($0) - [0:0]" } + listing.rules + ["COMMIT"]
        }
        var rules: [ObservedRule] = [], ahead: [Ahead] = [], chains: [ObservedChain] = []
        for family in Family.allCases {
            guard let lines = saves[family] else { continue }
            let classified = IptablesDialect.classify(IptablesSave.parse(lines.joined(separator: "\n"), family: family))
            rules += classified.rules
            ahead += classified.ahead
            chains += classified.chains
        }
        return CounterReading(source: source, dialect: IptablesDialect(), rules: rules, chains: chains, ahead: ahead)
    }

    /// Where iptables lists a built-in chain among a table's.
    static func hookOrder(_ chain: String) -> Int {
        ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"].firstIndex(of: chain) ?? 5
    }

    /// `-c PACKETS BYTES`, taken out of the words; nil when there is none.
    static func counters(_ words: inout [String], _ fail: (String) -> DumpError) throws(DumpError) -> (packets: UInt64, bytes: UInt64)? {
        guard let at = words.firstIndex(of: "-c") else { return nil }
        guard at + 2 < words.count else { throw fail("`-c` without its packet and byte counts: the line is cut short") }
        let packets = try DumpCount.read(Substring(words[at + 1]), "packet", in: Substring(words[at + 1]), fail).value
        let bytes = try DumpCount.read(Substring(words[at + 2]), "byte", in: Substring(words[at + 2]), fail).value
        words.removeSubrange(at...(at + 2))
        return (packets, bytes)
    }

    /// The table a listing is of, by its built-in chains (iptables' tables each have their own set).
    static func table(_ listing: Listing, _ dump: DumpText) throws(DumpError) -> String {
        let builtins = Set(listing.policies.map(\.chain))
        let tables: [(name: String, chains: Set<String>)] = [
            ("nat", ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]), ("mangle", ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]),
            ("raw", ["PREROUTING", "OUTPUT"]), ("filter", ["INPUT", "FORWARD", "OUTPUT"]),
        ]
        guard let table = tables.first(where: { $0.chains == builtins }) else {
            throw dump.error(listing.line, "the built-in chains \(listing.policies.map(\.chain).joined(separator: ", ")) are no table's: the listing is cut short, or this is not iptables -S output",
                             allowed: "a whole listing of nat, mangle, raw or filter (iptables -t TABLE -S -v)")
        }
        return table.name
    }
}
