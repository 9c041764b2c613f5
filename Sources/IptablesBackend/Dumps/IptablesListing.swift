import MeshCapture

/// `iptables -t TABLE -nvL` (and ip6tables'), with or without `-x` and `--line-numbers`, tables
/// and families concatenated. The listing names neither: a table is told by its built-in chains
/// (and, where those are not all shown, by meshcap's chain names and the targets only one table
/// has), a family by the addresses. Each rule is put back into the words iptables-save prints
/// for it, so the same `IptablesParser` reads it into the model and `IptablesDialect.classify` sorts
/// it, as for a live host.
public enum IptablesListing {
    static let allowed = "what iptables -nvL prints: Chain headers, the column line, one rule a line (pkts bytes target prot opt in out source destination, then its matches and target's options)"

    struct ListedChain {
        let name: String
        let line: Int
        let policy: String?
        var rules: [IptablesSave.SavedRule] = []
        /// The targets seen, for telling the table.
        var targets: Set<String> = []
    }

    /// One table's listing: from its first chain to the next table's.
    struct Listing {
        private(set) var chains: [ListedChain] = []
        /// Their names, to tell at once whether a chain is listed already.
        private(set) var names = Set<String>()
        /// As its addresses show.
        var family: Family?
        var line: Int { chains.first?.line ?? 0 }

        mutating func append(_ chain: ListedChain) {
            chains.append(chain)
            names.insert(chain.name)
        }
    }

    /// The rules, chains and what runs ahead, as a live iptables host reads them; `source` is what
    /// the report calls the reading ("iptables -nvL (vm1.txt)").
    public static func read(_ dump: DumpText, source: String) throws(DumpError) -> CounterReading {
        var listings: [Listing] = []
        var current = Listing()
        var chain: ListedChain?
        /// Whether the column line came after the current chain's header, and with `num` first.
        var columns: Bool?
        var rounded = false
        func close() {
            if let done = chain { current.append(done) }
            chain = nil
        }
        for (index, raw) in dump.lines.enumerated() {
            let number = index + 1
            let line = raw.withoutBlanks
            func fail(_ problem: String) -> DumpError { dump.error(number, problem, allowed: allowed) }
            // iptables-nft adds "# Warning: iptables-legacy tables present ..." to a listing.
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("Chain ") {
                if let listed = chain, columns == nil { throw fail("chain \(listed.name) (line \(listed.line)) ends before its column line: the listing is cut") }
                close()
                let header = try chainHeader(line, fail)
                if startsTable(header.name, in: current) {
                    listings.append(current)
                    current = Listing()
                }
                chain = ListedChain(name: header.name, line: number, policy: header.policy)
                columns = nil
                continue
            }
            guard let name = chain?.name else { throw fail("\(DumpText.quoted(line)) comes before any Chain header: the listing is cut short at the top") }
            guard let numbered = columns else {
                let names = line.split(separator: " ").map(String.init)
                let expected = ["pkts", "bytes", "target", "prot", "opt", "in", "out", "source", "destination"]
                guard names.first == "pkts" || names.first == "num" else { throw fail("the column line has no pkts and bytes: list with -v (iptables -nvL)") }
                guard names == expected || names == ["num"] + expected else { throw fail("\(DumpText.quoted(line)) is not iptables' column line") }
                columns = names.first == "num"
                continue
            }
            let rule = try self.rule(line, chain: name, numbered: numbered, fail)
            rounded = rounded || rule.rounded
            if let family = rule.family {
                if let known = current.family, known != family {
                    throw fail("an \(IptablesSaveDump.name(family)) address in a table listed for \(IptablesSaveDump.name(known)): two families in one listing")
                }
                current.family = family
            }
            // In place: a copy of the chain would copy its rules at every one.
            if let target = rule.target { chain?.targets.insert(target) }
            chain?.rules.append(rule.saved)
        }
        if chain != nil && columns == nil {
            throw dump.error(dump.lines.count, "the listing ends after a Chain header, before its column line: it is cut short", allowed: allowed)
        }
        close()
        if !current.chains.isEmpty { listings.append(current) }

        var tables: [Family: [IptablesSave.Table]] = [:]
        for listing in listings {
            let table = try self.table(listing, dump)
            let family = listing.family ?? (tables[.ipv4, default: []].contains { $0.name == table } ? .ipv6 : .ipv4)
            if tables[family, default: []].contains(where: { $0.name == table }) {
                throw dump.error(listing.line, "table \(table) of \(IptablesSaveDump.name(family)) is listed twice", allowed: "one listing per table and family")
            }
            tables[family, default: []].append(IptablesSave.Table(name: table, chains: listing.chains.map {
                IptablesSave.Chain(name: $0.name, policy: $0.policy, rules: $0.rules)
            }))
        }
        var rules: [ObservedRule] = [], ahead: [Ahead] = [], chains: [ObservedChain] = []
        for family in Family.allCases {
            guard let saved = tables[family] else { continue }
            let classified = IptablesDialect.classify(IptablesSave(family: family, tables: saved))
            rules += classified.rules
            ahead += classified.ahead
            chains += classified.chains
        }
        let notes = rounded
            ? ["counts are rounded: without -x, iptables -L prints counts above 99999 in thousands (K), millions (M), billions (G) or trillions (T); list with -nvxL for exact ones"]
            : []
        return CounterReading(source: source, dialect: IptablesDialect(), rules: rules, chains: chains, ahead: ahead, notes: notes)
    }

    /// "Chain PREROUTING (policy ACCEPT 0 packets, 0 bytes)" or "Chain ISTIO_OUTPUT (1 references)".
    static func chainHeader(_ line: Substring, _ fail: (String) -> DumpError) throws(DumpError) -> (name: String, policy: String?) {
        let words = line.split(separator: " ")
        guard words.count >= 3, let open = words[2].first, open == "(", words.last?.last == ")" else {
            throw fail("\(DumpText.quoted(line)) is not a Chain header")
        }
        if words[2] == "(policy" {
            guard words.count == 8, words[3].allSatisfy(\.isUppercase), words[5] == "packets,", words[7] == "bytes)" else {
                throw fail("\(DumpText.quoted(line)) is not a built-in chain's header")
            }
            _ = try DumpCount.read(words[4], "policy's packet", in: line, suffixes: true, fail)
            _ = try DumpCount.read(words[6], "policy's byte", in: line, suffixes: true, fail)
            return (String(words[1]), String(words[3]))
        }
        guard words.count == 4, UInt64(digits: words[2].dropFirst()) != nil, words[3] == "references)" else {
            throw fail("\(DumpText.quoted(line)) is not a chain's header")
        }
        return (String(words[1]), nil)
    }

    /// The built-in chains each table has, in the order iptables lists them.
    static let builtins: [(table: String, chains: [String])] = [
        ("nat", ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]),
        ("mangle", ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]),
        ("raw", ["PREROUTING", "OUTPUT"]),
        ("filter", ["INPUT", "FORWARD", "OUTPUT"]),
    ]
    static let hookOrder = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]

    /// Whether a chain's header begins the next table's listing: a table lists its built-in
    /// chains first, in hook order, then its own; so a chain already listed, or a built-in one
    /// after a regular one or out of hook order, is another table's.
    static func startsTable(_ name: String, in listing: Listing) -> Bool {
        guard let last = listing.chains.last else { return false }
        if listing.names.contains(name) { return true }
        guard let order = hookOrder.firstIndex(of: name) else { return false }
        guard let previous = hookOrder.firstIndex(of: last.name) else { return true }
        return order <= previous
    }

    /// The tables a chain or target fits, where that says anything.
    static let hints: [String: Set<String>] = [
        "ISTIO_DIVERT": ["mangle"], "ISTIO_TPROXY": ["mangle"], "ISTIO_DROP": ["mangle"],
        "ISTIO_REDIRECT": ["nat"], "ISTIO_IN_REDIRECT": ["nat"], "ISTIO_OUTPUT": ["nat"],
        "ISTIO_INBOUND": ["nat", "mangle", "raw"], "ISTIO_OUTPUT_DNS": ["nat", "raw"],
        "REDIRECT": ["nat"], "DNAT": ["nat"], "SNAT": ["nat"], "MASQUERADE": ["nat"],
        "TPROXY": ["mangle"], "MARK": ["mangle"], "CONNMARK": ["mangle"], "CT": ["raw"], "NOTRACK": ["raw"],
    ]

    /// Which table a listing is: the one whose built-in chains are exactly those listed; else the
    /// one all its chains and targets fit.
    static func table(_ listing: Listing, _ dump: DumpText) throws(DumpError) -> String {
        let names = listing.chains.map(\.name)
        let listed = Set(names.filter(hookOrder.contains))
        if !listed.isEmpty, let exact = builtins.first(where: { Set($0.chains) == listed }) { return exact.table }
        var possible = Set(builtins.filter { listed.isSubset(of: $0.chains) }.map(\.table))
        for hint in names + listing.chains.flatMap(\.targets) {
            if let tables = hints[hint] { possible.formIntersection(tables) }
        }
        if possible.count == 1, let only = possible.first { return only }
        let problem = possible.isEmpty ? "chains \(names.joined(separator: ", ")) fit no one table"
            : "cannot tell which table chains \(names.joined(separator: ", ")) are in (\(possible.sorted().joined(separator: " or ")))"
        throw dump.error(listing.line, problem, allowed: "whole tables, as iptables -t nat|mangle|raw -nvL lists them")
    }

    struct ListedRule {
        let saved: IptablesSave.SavedRule
        let target: String?
        let family: Family?
        let rounded: Bool
    }

    /// One rule line: counters, the columns up to the addresses, then what its matches and target print.
    static func rule(_ line: Substring, chain: String, numbered: Bool, _ fail: (String) -> DumpError) throws(DumpError) -> ListedRule {
        var tokens = line.split(separator: " ").map(String.init)[...]
        if numbered {
            guard let first = tokens.first, UInt64(digits: first) != nil else { throw fail("\(DumpText.quoted(line)) does not begin with its rule number (--line-numbers)") }
            tokens = tokens.dropFirst()
        }
        // A line that does not begin like a count is no rule line; one that does has its counts read.
        guard tokens.count >= 2, let first = tokens.first?.first, first.isNumber || first == "-" else {
            throw fail("\(DumpText.quoted(line)) does not begin with its packet and byte counts")
        }
        let packets = try DumpCount.read(tokens[tokens.startIndex], "packet", in: line, suffixes: true, fail)
        let bytes = try DumpCount.read(tokens[tokens.startIndex + 1], "byte", in: line, suffixes: true, fail)
        // The source and destination are the first two addresses: in -n form they cannot be
        // taken for anything else, and they fix where the columns before them are.
        let start = tokens.startIndex + 2
        guard let source = tokens.indices.dropFirst(2).first(where: { isAddress(tokens[$0]) && $0 + 1 < tokens.endIndex && isAddress(tokens[$0 + 1]) }),
              source - start >= 3 else {
            throw fail("\(DumpText.quoted(line)) has no source and destination column (a listing without -n shows names; list with -n)")
        }
        // Before the interfaces: the target (blank for a rule without one), the protocol, and the
        // options column ("--").
        let middle = Array(tokens[start..<(source - 2)])
        let isOption = { (word: String) in word == "--" || word == "-f" || word == "!f" }
        let (target, proto, option): (String?, String, String?)
        switch middle.count {
        case 3: (target, proto, option) = (middle[0], middle[1], middle[2])
        case 2: (target, proto, option) = isOption(middle[1]) ? (nil, middle[0], middle[1]) : (middle[0], middle[1], nil)
        case 1: (target, proto, option) = (nil, middle[0], nil)
        default: throw fail("\(DumpText.quoted(line)) does not have the columns target, prot, opt before in and out")
        }
        if let option, !isOption(option) { throw fail("\(DumpText.quoted(option)) is not an opt column") }

        let addresses = [tokens[source], tokens[source + 1]]
        var family: Family?
        for address in addresses { family = family ?? IPAddress(address.drop { $0 == "!" }.prefix { $0 != "/" })?.family }
        var header: [String] = []
        for (flag, address) in zip(["-s", "-d"], addresses) {
            let negated = address.hasPrefix("!")
            let text = negated ? String(address.dropFirst()) : address
            // iptables-save leaves out a match of every address, and writes a host's prefix length.
            if !negated && (text == "0.0.0.0/0" || text == "::/0") { continue }
            let prefix = text.contains("/") ? text : text + (text.contains(":") ? "/128" : "/32")
            header += (negated ? ["!"] : []) + [flag, prefix]
        }
        for (flag, name) in zip(["-i", "-o"], [tokens[source - 2], tokens[source - 1]]) where name != "*" {
            header += name.hasPrefix("!") ? ["!", flag, String(name.dropFirst())] : [flag, name]
        }
        let negatedProto = proto.hasPrefix("!")
        let protoName = protocols[String(proto.drop { $0 == "!" })] ?? String(proto.drop { $0 == "!" })
        if protoName != "all" { header += (negatedProto ? ["!"] : []) + ["-p", protoName] }
        if option == "-f" { header.append("-f") } else if option == "!f" { header += ["!", "-f"] }

        var extensions = Extensions(tokens: Array(tokens[(source + 2)...])[...], target: target)
        extensions.read()
        // What could not be put back stays as printed: shown as it is, and never taken for meshcap's.
        var words = header + extensions.matches + extensions.unread
        if let target { words += [extensions.goto ? "-g" : "-j", target] + extensions.targetOptions }
        let parsed = extensions.unread.isEmpty ? IptablesParser.rule(words, family: family ?? .ipv4) : nil
        let text = (["-A", chain] + words).map(quotedWord).joined(separator: " ")
        return ListedRule(saved: IptablesSave.SavedRule(text: text, rule: parsed?.rule, tagged: parsed?.tagged ?? false, packets: packets.value, bytes: bytes.value),
                          target: target, family: family, rounded: packets.rounded || bytes.rounded)
    }

    /// The protocol names iptables-save prints for the numbers `-n` lists (iptables 1.8.8 and later).
    static let protocols = ["0": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp", "132": "sctp"]

    /// A word as iptables-save writes it: quoted when it holds a blank.
    static func quotedWord(_ word: String) -> String {
        guard word.contains(" ") || word.isEmpty else { return word }
        var quoted = "\""
        for character in word {
            if character == "\"" || character == "\\" { quoted.append("\\") }
            quoted.append(character)
        }
        return quoted + "\""
    }

    static func isAddress(_ word: String) -> Bool {
        IPAddress(word.drop { $0 == "!" }.prefix { $0 != "/" }) != nil
    }
}

/// What a rule's matches and target print after the columns, read back into iptables-save's
/// words: each match extension prints its own way (libxt_tcp "tcp dpt:8080", libxt_owner "owner
/// UID match 1337", ...), and the target's options follow in the target's way.
struct Extensions {
    var tokens: ArraySlice<String>
    let target: String?
    var matches: [String] = []
    var targetOptions: [String] = []
    /// What was not understood, as printed: the rule is then not meshcap's.
    var unread: [String] = []
    var goto = false

    mutating func read() {
        while let token = tokens.first {
            if token == "[goto]" {
                goto = true
                tokens = tokens.dropFirst()
            } else if !match() && !targetOption() {
                unread = Array(tokens)
                return
            }
        }
    }

    private mutating func next() -> String? {
        defer { tokens = tokens.dropFirst() }
        return tokens.first
    }

    private func peek(_ ahead: Int = 0) -> String? {
        tokens.indices.contains(tokens.startIndex + ahead) ? tokens[tokens.startIndex + ahead] : nil
    }

    /// A value printed with an optional "!" before it, apart or attached.
    private mutating func negatable() -> (negated: Bool, value: String)? {
        if peek() == "!" { tokens = tokens.dropFirst(); return next().map { (true, $0) } }
        guard let value = next() else { return nil }
        return value.hasPrefix("!") ? (true, String(value.dropFirst())) : (false, value)
    }

    private static func not(_ negated: Bool) -> [String] { negated ? ["!"] : [] }

    /// One match's print, if it is one this reader knows, turned into its words.
    private mutating func match() -> Bool {
        let saved = tokens
        var negated = peek() == "!"
        if negated { tokens = tokens.dropFirst() }
        guard var name = next() else { tokens = saved; return false }
        // Some iptables versions print the negation attached: "!owner UID match 1337".
        if !negated, name == "!owner" || name == "!ctstate" {
            negated = true
            name.removeFirst()
        }
        // Only the owner and conntrack matches print their negation before their name.
        guard !negated || name == "owner" || name == "ctstate" else { tokens = saved; return false }
        var words: [String]?
        switch name {
        case "/*":
            guard let end = tokens.firstIndex(of: "*/") else { break }
            words = ["-m", "comment", "--comment", tokens[..<end].joined(separator: " ")]
            tokens = tokens[(end + 1)...]
        case "tcp", "udp":
            // "tcp spt:1000 dpt:!8080": source port, then destination port, each optional.
            words = ["-m", name]
            while let option = peek(), let colon = option.firstIndex(of: ":"), ["spt", "dpt"].contains(option[..<colon]) {
                tokens = tokens.dropFirst()
                let value = option[option.index(after: colon)...]
                words? += Self.not(value.hasPrefix("!")) + [option.hasPrefix("s") ? "--sport" : "--dport", String(value.drop { $0 == "!" })]
            }
        case "multiport":
            guard let which = next(), ["dports", "sports"].contains(which), let list = negatable() else { break }
            words = ["-m", "multiport"] + Self.not(list.negated) + ["--\(which)", list.value]
        case "owner":
            // "owner UID match 1337", "! owner GID match 1337".
            guard let kind = next(), ["UID", "GID"].contains(kind), next() == "match", let id = next() else { break }
            words = ["-m", "owner"] + Self.not(negated) + [kind == "UID" ? "--uid-owner" : "--gid-owner", id]
        case "mark", "connmark":
            // "mark match ! 0x53a", "connmark match  0x539".
            guard next() == "match", let value = negatable() else { break }
            words = ["-m", name] + Self.not(value.negated) + ["--mark", value.value]
        case "ctstate":
            guard let states = next() else { break }
            words = ["-m", "conntrack"] + Self.not(negated) + ["--ctstate", states]
        case "state":
            guard let states = next() else { break }
            words = ["-m", "state", "--state", states]
        case "limit:":
            // "limit: avg 10/sec burst 5".
            guard next() == "avg", let rate = next(), next() == "burst", let burst = next() else { break }
            words = ["-m", "limit", "--limit", rate] + (burst == "5" ? [] : ["--limit-burst", burst])
        default:
            break
        }
        guard let words else { tokens = saved; return false }
        matches += words
        return true
    }

    /// The target's options as its extension prints them, back in iptables-save's words.
    private mutating func targetOption() -> Bool {
        let all = "0xffffffff"
        let saved = tokens
        var words: [String]?
        switch (target, next()) {
        case ("REDIRECT", "redir"):
            guard next() == "ports", let ports = next() else { break }
            words = ["--to-ports", ports]
        case ("TPROXY", "TPROXY"):
            // "TPROXY redirect 0.0.0.0:15006 mark 0x539/0xffffffff"; IPv6: "redirect :::15006".
            guard next() == "redirect", let to = next(), let colon = to.lastIndex(of: ":"), next() == "mark", let mark = next() else { break }
            words = ["--on-port", String(to[to.index(after: colon)...]), "--on-ip", String(to[..<colon]), "--tproxy-mark", mark]
        case ("MARK", "MARK"):
            // libxt_MARK prints a full mask as "set", and its other forms by what they do to the mark.
            guard let operation = next(), let value = next(), let number = hex(value) else { break }
            switch operation {
            case "set": words = ["--set-xmark", "\(value)/\(all)"]
            case "xset": words = value.contains("/") ? ["--set-xmark", value] : nil
            case "and": words = ["--set-xmark", "0x0/0x" + String(~number, radix: 16)]
            case "or": words = ["--set-xmark", "\(value)/\(value)"]
            case "xor": words = ["--set-xmark", "\(value)/0x0"]
            default: break
            }
        case ("CONNMARK", "CONNMARK"):
            // "CONNMARK save", "CONNMARK restore mask 0xff": both masks full unless printed.
            guard let operation = next(), operation == "save" || operation == "restore" else { break }
            var masks = (all, all)
            if peek() == "mask", let mask = peek(1) {
                tokens = tokens.dropFirst(2)
                masks = (mask, mask)
            }
            words = ["--\(operation)-mark", "--nfmask", masks.0, "--ctmask", masks.1]
        case ("CT", "CT"):
            guard next() == "zone", let zone = next() else { break }
            words = ["--zone", zone]
        case ("LOG", "LOG"):
            // "LOG flags 0 level 4 prefix "meshcap in capture: "": the defaults, then the prefix.
            guard next() == "flags", next() == "0", next() == "level", next() == "4", next() == "prefix", let prefix = quoted() else { break }
            words = ["--log-prefix", prefix]
        case ("NFLOG", "nflog-prefix"):
            // "nflog-prefix "meshcap out capture: " nflog-group 5"; group 0 is not printed.
            guard let prefix = quoted() else { break }
            words = ["--nflog-prefix", prefix]
            if peek() == "nflog-group", let group = peek(1) {
                tokens = tokens.dropFirst(2)
                words? += ["--nflog-group", group]
            }
        default:
            break
        }
        guard let words else { tokens = saved; return false }
        targetOptions += words
        return true
    }

    /// A double-quoted string the line's split on blanks took apart ("meshcap in capture: "
    /// prints as `"meshcap`, `in`, `capture:`, `"`), put together again: meshcap's prefixes
    /// have single blanks, and their last one is before the closing quote.
    private mutating func quoted() -> String? {
        guard let first = next(), first.hasPrefix("\"") else { return nil }
        var text = String(first.dropFirst())
        while !text.hasSuffix("\"") {
            guard let part = next() else { return nil }
            text += " " + part
        }
        return String(text.dropLast())
    }

    private func hex(_ text: String) -> UInt32? {
        text.hasPrefix("0x") ? UInt32(text.dropFirst(2).prefix { $0 != "/" }, radix: 16) : nil
    }
}
