import MeshCapture

/// `nft list ruleset` (or `nft list table ...`), with or without handles (`-a`): tables of
/// chains of rules, one a line, in nft's own printed syntax, which is not quite meshcap's
/// (`meta mark 0x00000539`, counters with their values, a `meta l4proto` a port match implies
/// left out). Other programs' tables may hold sets, maps, flowtables and stateful objects:
/// those blocks are skipped whole, but their braces must close.
public enum NftListing {
    static let allowed = "what nft list ruleset prints: table FAMILY NAME { chain NAME { type ... hook ... priority ...; RULES } }, and sets, maps and objects in other tables"

    /// Where the reader is: which block the next line is in.
    enum Place {
        case top
        case table(family: String, name: String, line: Int)
        case chain(family: String, table: String, name: String, line: Int)
        /// A set, map or object: lines skipped until its braces close.
        case skipped(depth: Int, line: Int)
        /// A set of meshcap's tables: its words are gathered (`setWords`) until its braces close
        /// (nft wraps a long element list over several lines).
        case set(table: String, depth: Int, line: Int)
    }

    /// The rules, chains and what runs ahead, as a live nft host reads them; `source` is what the
    /// report calls the reading ("nft list ruleset (vm1.txt)").
    public static func read(_ dump: DumpText, source: String) throws(DumpError) -> CounterReading {
        var ruleset = NftDump()
        var stack: [Place] = [.top]
        var setWords: [String] = []
        for (index, raw) in dump.lines.enumerated() {
            let number = index + 1
            func fail(_ problem: String) -> DumpError { dump.error(number, problem, allowed: allowed) }
            // `# handle 4` after a rule (nft -a), a comment line: neither is part of the ruleset.
            guard let line = withoutComment(raw) else { throw fail("a quote in \(DumpText.quoted(raw)) is not closed") }
            if line.isEmpty { continue }
            let words = self.words(line)
            switch stack.last ?? .top {
            case .top:
                // "table inet istio-proxy-nat {"; a table of the ip family may be printed without it.
                guard words.first == "table", words.last == "{", (3...4).contains(words.count) else {
                    throw fail("\(DumpText.quoted(line)) is not a table's first line")
                }
                stack.append(.table(family: words.count == 4 ? words[1] : "ip", name: unquoted(words[words.count - 2]), line: number))
            case .table(let family, let table, _):
                if words == ["}"] {
                    stack.removeLast()
                } else if words.first == "chain", words.count == 3, words.last == "{" {
                    ruleset.chains.append(NftDump.Chain(family: family, table: table, name: unquoted(words[1]), base: nil))
                    stack.append(.chain(family: family, table: table, name: unquoted(words[1]), line: number))
                } else if words.first == "set", family == "inet", NftDump.meshcapTables.contains(table), words.contains("{") {
                    stack.append(.set(table: table, depth: depth(words), line: number))
                    setWords = words
                    if depth(words) <= 0 { try closeSet(&stack, setWords, &ruleset, fail) }
                } else if let kind = words.first, objects.contains(kind) || (kind == "ct" && words.count > 1), words.contains("{") {
                    if depth(words) > 0 { stack.append(.skipped(depth: depth(words), line: number)) }
                } else if words.first == "flags" || words.first == "comment" {
                    continue
                } else {
                    throw fail("\(DumpText.quoted(line)) is not a chain, set, map or object of table \(table)")
                }
            case .skipped(let depth, let line):
                let inside = depth + self.depth(words)
                stack.removeLast()
                if inside > 0 { stack.append(.skipped(depth: inside, line: line)) }
            case .set(let table, let depth, let line):
                stack.removeLast()
                stack.append(.set(table: table, depth: depth + self.depth(words), line: line))
                setWords += words
                if depth + self.depth(words) <= 0 { try closeSet(&stack, setWords, &ruleset, fail) }
            case .chain(let family, let table, let chain, _):
                if words == ["}"] {
                    stack.removeLast()
                } else if words.first == "type" {
                    // "type nat hook prerouting priority dstnat; policy accept;"
                    guard words.count >= 6, words[2] == "hook", let at = words.firstIndex(of: "priority"), let end = words[at...].firstIndex(of: ";") else {
                        throw fail("\(DumpText.quoted(line)) is not a base chain's type, hook and priority")
                    }
                    guard let last = ruleset.chains.indices.last else { continue }
                    ruleset.chains[last] = NftDump.Chain(family: family, table: table, name: chain,
                                                         base: (words[1], Hook(rawValue: words[3]), NftDump.priority(Array(words[(at + 1)..<end]), family: family)))
                } else if words.first == "policy" || words.first == "comment" {
                    continue
                } else {
                    guard depth(words) == 0 else { throw fail("the braces of \(DumpText.quoted(line)) do not close on its line") }
                    let counter = try self.counter(words, fail)
                    ruleset.rules.append(NftDump.Rule(family: family, table: table, chain: chain, statements: statements(words, sets: ruleset.sets(in: table)), text: String(line),
                                                      packets: counter?.packets ?? 0, bytes: counter?.bytes ?? 0, counted: counter != nil))
                }
            }
        }
        let open: Int? = switch stack.last ?? .top {
        case .top: nil
        case .table(_, _, let line), .chain(_, _, _, let line), .skipped(_, let line), .set(_, _, let line): line
        }
        if let open {
            throw dump.error(dump.lines.count, "the dump ends before the block begun at line \(open) is closed: it is cut short", allowed: allowed)
        }
        return ruleset.reading(source: source)
    }

    /// The set block on top of the stack, whole: `set NAME { type T; [flags interval;] counter;
    /// elements = { VALUE [counter packets N bytes M], ... } }`, kept by table and name.
    static func closeSet(_ stack: inout [Place], _ words: [String], _ ruleset: inout NftDump, _ fail: (String) -> DumpError) throws(DumpError) {
        guard case .set(let table, _, _)? = stack.popLast() else { return }
        guard words.count > 2 else { throw fail("a set without its name") }
        let name = unquoted(words[1])
        let type = words.firstIndex(of: "type").flatMap { words.indices.contains($0 + 1) ? words[$0 + 1] : nil } ?? ""
        var listed: [(element: SetElement?, counter: (packets: UInt64, bytes: UInt64)?)] = []
        if let start = words.firstIndex(of: "elements"), words[start...].starts(with: ["elements", "=", "{"]) {
            var entries = words[(start + 3)...]
            // Each entry up to its "," or the list's "}": a value, then its counter.
            while let value = entries.first, value != "}" {
                let entry = entries.prefix { $0 != "," && $0 != "}" }
                entries = entries.dropFirst(entry.count)
                if entries.first == "," { entries = entries.dropFirst() }
                let element: SetElement? = type == "inet_service"
                    ? UInt64(digits: Substring(value)).flatMap { $0 > 0 ? Port(exactly: $0) : nil }.map(SetElement.port)
                    : (try? Prefix.parse(Substring(value))).map(SetElement.prefix)
                if entry.count == 6, entry.dropFirst().starts(with: ["counter", "packets"]), entry[entry.startIndex + 4] == "bytes" {
                    let shown = entry.joined(separator: " ")
                    listed.append((element, (try DumpCount.read(entry[entry.startIndex + 3], "packet", in: shown, fail).value,
                                             try DumpCount.read(entry[entry.startIndex + 5], "byte", in: shown, fail).value)))
                } else if entry.count == 1 {
                    listed.append((element, nil))
                } else {
                    throw fail("set \(name) has an element \(entry.joined(separator: " ")) that is neither a value nor a value with its counter")
                }
            }
        }
        ruleset.sets["\(table) \(name)"] = NftDump.listedSet(name: name, type: type, entries: listed)
    }

    /// The blocks a table may hold besides chains (`ct helper`, `ct timeout` and `ct expectation`
    /// begin with "ct").
    static let objects: Set<String> = ["set", "map", "flowtable", "counter", "quota", "limit", "secmark", "synproxy"]

    /// How many more braces the words open than they close.
    static func depth(_ words: [String]) -> Int {
        words.reduce(0) { $0 + ($1 == "{" ? 1 : $1 == "}" ? -1 : 0) }
    }

    /// The line without blanks around it and without a `#` comment outside quotes; nil when a
    /// quote does not close.
    static func withoutComment(_ line: String) -> Substring? {
        var quoted = false
        for index in line.indices {
            if line[index] == "\"" { quoted.toggle() }
            if line[index] == "#" && !quoted { return line[..<index].withoutBlanks }
        }
        return quoted ? nil : line[...].withoutBlanks
    }

    /// Words split at blanks; `{`, `}`, `,` and `;` are words of their own; a quoted string is
    /// one word, quotes kept (`"lo"` is a name).
    static func words(_ line: Substring) -> [String] {
        var words: [String] = [], word = "", quoted = false
        func end() {
            if !word.isEmpty { words.append(word) }
            word = ""
        }
        for character in line {
            if character == "\"" { quoted.toggle() }
            if quoted || character == "\"" {
                word.append(character)
            } else if character == " " || character == "\t" {
                end()
            } else if "{},;".contains(character) {
                end()
                words.append(String(character))
            } else {
                word.append(character)
            }
        }
        end()
        return words
    }

    static func unquoted(_ word: String) -> String {
        word.count >= 2 && word.hasPrefix("\"") && word.hasSuffix("\"") ? String(word.dropFirst().dropLast()) : word
    }

    /// The counter's values: `counter packets 6 bytes 360`; nil for a rule without a counter
    /// (it counts nothing, which is not zero). One without values (`nft -s`) is refused: the
    /// counts are what verify reads.
    static func counter(_ words: [String], _ fail: (String) -> DumpError) throws(DumpError) -> (packets: UInt64, bytes: UInt64)? {
        guard let at = words.firstIndex(of: "counter") else { return nil }
        // A named counter (`counter name "x"`) keeps its values elsewhere.
        guard words[(at + 1)...].first != "name" else { return (0, 0) }
        let values = words[(at + 1)...].prefix(4)
        guard values.count == 4, values.first == "packets", values[at + 3] == "bytes" else {
            throw fail("a counter without its packets and bytes: list without -s (stateless)")
        }
        let shown = words[at...].prefix(5).joined(separator: " ")
        return (try DumpCount.read(values[at + 2], "packet", in: shown, fail).value, try DumpCount.read(values[at + 4], "byte", in: shown, fail).value)
    }

    /// A rule's statements in meshcap's terms, or nil for one it does not write.
    static func statements(_ words: [String], sets: [String: NamedSet]) -> [NftStatement]? {
        var reader = NftWords(words: words[...], sets: sets)
        var statements: [NftStatement] = []
        while !reader.isAtEnd {
            guard let statement = reader.statement() else { return nil }
            if let statement { statements.append(statement) }
        }
        return statements
    }
}

/// Reads nft's printed statements one at a time.
struct NftWords {
    var words: ArraySlice<String>
    /// The table's named sets, for `ip daddr @NAME` and `tcp dport @NAME`.
    let sets: [String: NamedSet]
    var isAtEnd: Bool { words.isEmpty }

    private mutating func next() -> String? {
        defer { words = words.dropFirst() }
        return words.first
    }

    private mutating func take(_ word: String) -> Bool {
        guard words.first == word else { return false }
        words = words.dropFirst()
        return true
    }

    /// The next statement: `.some(nil)` for one that means nothing to the model (a comment),
    /// nil for one meshcap does not write.
    mutating func statement() -> NftStatement?? {
        guard var key = next() else { return nil }
        // nft prints some meta keys without "meta" (iifname), older versions all of them.
        if key == "meta", let name = next() { key = name }
        switch key {
        case "counter":
            _ = take("packets") && next() != nil && take("bytes") && next() != nil
            return .some(.counter)
        case "comment":
            guard next() != nil else { return nil }
            return .some(nil)
        case "l4proto":
            return transport(next()).map { .match(.l4proto($0)) }
        case "iifname", "oifname":
            guard let name = next(), name.hasPrefix("\""), name.count >= 2, name.hasSuffix("\"") else { return nil }
            let interface = String(name.dropFirst().dropLast())
            return .match(key == "iifname" ? .inInterface(interface) : .outInterface(interface))
        case "skuid", "skgid":
            let negated = take("!=")
            guard let owner = next().flatMap(owner) else { return nil }
            return .match(key == "skuid" ? .socketUser(owner, negated: negated) : .socketGroup(owner, negated: negated))
        case "mark":
            if take("set") {
                if take("ct") { return take("mark") ? .connectionToMark : nil }
                return next().flatMap(number).map { .setMark($0) }
            }
            let negated = take("!=")
            return next().flatMap(number).map { .match(.mark($0, negated: negated)) }
        case "ip", "ip6":
            guard let field = next(), field == "saddr" || field == "daddr" else { return nil }
            if let reference = words.first, reference.hasPrefix("@") {
                _ = next()
                guard case .prefixes(let set)? = sets[String(reference.dropFirst())], set.family == (key == "ip" ? .ipv4 : .ipv6) else { return nil }
                return .match(field == "saddr" ? .sourceSet(set) : .destinationSet(set))
            }
            let negated = take("!=")
            guard let text = next(), let prefix = try? Prefix.parse(Substring(text)), prefix.family == (key == "ip" ? .ipv4 : .ipv6) else { return nil }
            return .match(field == "saddr" ? .source(prefix, negated: negated) : .destination(prefix, negated: negated))
        case "tcp", "udp":
            guard let proto = transport(key), let field = next(), field == "dport" || field == "sport" else { return nil }
            if field == "dport", let reference = words.first, reference.hasPrefix("@") {
                _ = next()
                guard case .ports(let set)? = sets[String(reference.dropFirst())] else { return nil }
                return .match(.destinationPortSet(proto, set))
            }
            let negated = take("!=")
            guard let ports = ports() else { return nil }
            return .match(field == "dport" ? .destinationPort(proto, ports, negated: negated) : .sourcePort(proto, ports, negated: negated))
        case "ct":
            switch next() {
            case "state":
                guard let states = list()?.map({ ConntrackState(rawValue: $0) }), !states.contains(nil) else { return nil }
                return .match(.conntrackState(states.compactMap { $0 }))
            case "mark":
                if take("set") { return take("meta") && take("mark") || take("mark") ? .markToConnection : nil }
                return next().flatMap(number).map { .match(.connmark($0)) }
            case "zone":
                guard take("set"), let zone = next().flatMap({ UInt16($0) }) else { return nil }
                return .zone(zone)
            default:
                return nil
            }
        case "limit":
            // "limit rate 10/second": packets at the default burst, which nft before 1.0.9 leaves
            // out and later versions print ("burst 5 packets").
            guard take("rate"), let rate = next(), rate.hasSuffix("/second"), let perSecond = UInt32(rate.dropLast(7)), perSecond > 0 else { return nil }
            if take("burst") { guard take("5"), take("packets") else { return nil } }
            return .match(.rateLimit(perSecond: perSecond))
        case "log":
            // `log prefix "meshcap in capture: "`, with ` group N` for nfnetlink_log.
            guard take("prefix"), let quoted = next(), quoted.count >= 2, quoted.hasPrefix("\""), quoted.hasSuffix("\"") else { return nil }
            var group: UInt16?
            if take("group") {
                guard let number = next().flatMap({ UInt16($0) }) else { return nil }
                group = number
            }
            return .log(prefix: NftListing.unquoted(quoted), group: group)
        case "redirect":
            // "redirect to :15001".
            guard take("to"), let port = next().flatMap(port) else { return nil }
            return .redirect(port)
        case "tproxy":
            // "tproxy ip to :15006"; a family only when the rule's addresses are of one.
            let family: Family? = take("ip") ? .ipv4 : take("ip6") ? .ipv6 : nil
            guard take("to"), let port = next().flatMap(port) else { return nil }
            return .tproxy(port, family)
        case "jump":
            return next().map { .verdict(.jump(RuleDecoder.chainName(NftListing.unquoted($0)))) }
        case "accept": return .verdict(.accept)
        case "drop": return .verdict(.drop)
        case "return": return .verdict(.return)
        default: return nil
        }
    }

    private func transport(_ name: String?) -> L4Protocol? {
        switch name {
        case "tcp", "6": .tcp
        case "udp", "17": .udp
        default: nil
        }
    }

    /// ":15001" (a port with no address).
    private func port(_ text: String) -> Port? {
        guard text.hasPrefix(":"), let port = UInt64(digits: text.dropFirst()), port > 0, port <= UInt64(Port.max) else { return nil }
        return Port(port)
    }

    /// "8080" or "{ 53, 15008 }".
    private mutating func ports() -> [Port]? {
        guard let values = list() else { return nil }
        let ports = values.compactMap { UInt64(digits: $0).flatMap { $0 > 0 && $0 <= UInt64(Port.max) ? Port($0) : nil } }
        return ports.count == values.count ? ports : nil
    }

    /// One value, several joined by commas ("established,related"), or a set ("{ a, b }").
    private mutating func list() -> [String]? {
        guard let first = next() else { return nil }
        guard first == "{" else {
            var values = [first]
            while take(",") {
                guard let value = next() else { return nil }
                values.append(value)
            }
            return values
        }
        var values: [String] = []
        while let value = next(), value != "}" {
            values.append(value)
            guard let separator = next() else { return nil }
            if separator == "}" { return values }
            guard separator == "," else { return nil }
        }
        return values.isEmpty ? nil : values
    }

    /// A mark as nft prints it ("0x00000539") or as a number.
    private func number(_ text: String) -> UInt32? {
        if text.hasPrefix("0x") { return UInt32(text.dropFirst(2), radix: 16) }
        return UInt64(digits: text).flatMap { $0 <= UInt64(UInt32.max) ? UInt32($0) : nil }
    }

    /// A user or group: its number, or the name nft printed for it (the host that saved the
    /// dump knew it; this one may not).
    private func owner(_ text: String) -> Owner? {
        if let id = UInt64(digits: text) { return id <= UInt64(UInt32.max) ? .id(UInt32(id)) : nil }
        let name = NftListing.unquoted(text)
        return name.isEmpty || name.contains(" ") ? nil : .name(name)
    }
}
