import MeshCapture

/// `iptables-save [-c]` output, as tables of chains of rules, each rule read back into the model
/// when it is exactly one meshcap writes. The same reader serves apply (what is live before it
/// changes anything), clean, diff and verify, and `--from` dumps.
public struct IptablesSave: Sendable, Hashable {
    public struct Table: Sendable, Hashable {
        public let name: String
        /// As printed: built-in chains first, then regular chains by name.
        public var chains: [Chain]

        public init(name: String, chains: [Chain]) {
            self.name = name
            self.chains = chains
        }

        public func chain(_ name: String) -> Chain? { chains.first { $0.name == name } }
    }

    public struct Chain: Sendable, Hashable {
        public let name: String
        /// "ACCEPT" for a built-in chain, nil for a regular one.
        public let policy: String?
        public var rules: [SavedRule]

        public init(name: String, policy: String?, rules: [SavedRule]) {
            self.name = name
            self.policy = policy
            self.rules = rules
        }
    }

    public struct SavedRule: Sendable, Hashable {
        /// The line without its counters: `-A CHAIN ...`, re-readable by iptables-restore.
        public let text: String
        /// The model's rule, when every word is one meshcap writes; nil for anyone else's rule.
        public let rule: Rule?
        /// Whether it carries meshcap's ownership comment.
        public let tagged: Bool
        public let packets: UInt64
        public let bytes: UInt64

        /// A rule read from another listing than iptables-save's (`iptables -nvL`), its text in
        /// iptables-save's words.
        public init(text: String, rule: Rule?, tagged: Bool, packets: UInt64, bytes: UInt64) {
            self.text = text
            self.rule = rule
            self.tagged = tagged
            self.packets = packets
            self.bytes = bytes
        }
    }

    public let family: Family
    public var tables: [Table]
    /// Why a live host's tables of this family were read with the save tool and not from the
    /// kernel (the entry the kernel reader does not print exactly); nil otherwise.
    public var savedBecause: String?

    public func table(_ name: String) -> Table? { tables.first { $0.name == name } }

    public init(family: Family, tables: [Table], savedBecause: String? = nil) {
        self.family = family
        self.tables = tables
        self.savedBecause = savedBecause
    }

    /// The non-empty lines, split on the bytes: splitting a String on Characters costs more
    /// than reading the rules in it.
    static func lines(_ text: String) -> [Substring] {
        text.utf8.split(separator: UInt8(ascii: "\n")).map { Substring($0) }
    }

    /// Reads iptables-save output; comments and warnings (`# ...`) are skipped.
    public static func parse(_ text: String, family: Family) -> IptablesSave {
        var tables: [Table] = []
        var current: Table?
        // Where each chain of the current table is: a table may have thousands.
        var chainIndex: [String: Int] = [:]
        for line in lines(text) {
            // The first byte says what a line is (Substring.hasPrefix compares characters).
            let first = line.utf8.first
            if first == UInt8(ascii: "#") { continue }
            if first == UInt8(ascii: "*") {
                current = Table(name: String(line.dropFirst()), chains: [])
                chainIndex = [:]
            } else if line == "COMMIT" {
                if let table = current { tables.append(table) }
                current = nil
            } else if first == UInt8(ascii: ":") {
                let fields = line.dropFirst().split(separator: " ")
                guard let name = fields.first else { continue }
                let policy = fields.count > 1 && fields[1] != "-" ? String(fields[1]) : nil
                if let count = current?.chains.count, chainIndex[String(name)] == nil { chainIndex[String(name)] = count }
                current?.chains.append(Chain(name: String(name), policy: policy, rules: []))
            } else {
                var body = Substring(line)
                var packets: UInt64 = 0, bytes: UInt64 = 0
                if first == UInt8(ascii: "["), let close = body.utf8.firstIndex(of: UInt8(ascii: "]")) {
                    let counts = body[body.index(after: body.startIndex)..<close].split(separator: ":")
                    packets = counts.first.flatMap { UInt64($0) } ?? 0
                    bytes = counts.count > 1 ? UInt64(counts[1]) ?? 0 : 0
                    body = body[body.index(after: close)...].drop { $0 == " " }
                }
                guard current != nil, let saved = savedRule(body, packets: packets, bytes: bytes, family: family),
                      let index = chainIndex[saved.chain] else { continue }
                current?.chains[index].rules.append(saved.rule)
            }
        }
        return IptablesSave(family: family, tables: tables)
    }

    /// One `-A CHAIN ...` line, its counters apart, as a rule of CHAIN (read into the model when
    /// it is one meshcap writes); nil for a line of another shape. The kernel readers print each
    /// entry as this line and read it here, so every way of reading gives the same rules.
    public static func savedRule(_ body: Substring, packets: UInt64, bytes: UInt64, family: Family) -> (chain: String, rule: SavedRule)? {
        let words = IptablesParser.words(body)
        guard words.count >= 2, words[0] == "-A" else { return nil }
        let parsed = IptablesParser.rule(Array(words.dropFirst(2)), family: family)
        return (words[1], SavedRule(text: String(body), rule: parsed?.rule, tagged: parsed?.tagged ?? false, packets: packets, bytes: bytes))
    }
}

/// Reads the words of one rule in iptables-save form back into the model. Exact: every word must
/// be one the renderer writes, in the place it writes it; an option meshcap never writes (a mask
/// on a mark, `--on-ip` of a real address, a negated interface, a module it does not use) makes
/// the rule somebody else's, and `rule` returns nil.
public enum IptablesParser {
    /// Splits on blanks; a double-quoted word (iptables-save quotes comments with spaces) keeps
    /// its blanks, with `\"` and `\\` unescaped.
    public static func words(_ text: Substring) -> [String] {
        // Byte by byte, over the contiguous bytes: every character that matters is ASCII, and
        // Character iteration (or even stepping a Substring's UTF8View) over 10,000 rules costs
        // more than everything else in reading them.
        var text = text
        return text.withUTF8(words)
    }

    static func words(_ bytes: UnsafeBufferPointer<UInt8>) -> [String] {
        var words: [String] = []
        var word: [UInt8] = [], quoted = false, escaped = false, started = false
        for byte in bytes {
            if escaped {
                word.append(byte)
                escaped = false
            } else if quoted && byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                quoted.toggle()
                started = true
            } else if byte == UInt8(ascii: " ") && !quoted {
                if started { words.append(String(decoding: word, as: UTF8.self)) }
                word.removeAll(keepingCapacity: true)
                started = false
            } else {
                word.append(byte)
                started = true
            }
        }
        if started { words.append(String(decoding: word, as: UTF8.self)) }
        return words
    }

    public static func rule(_ words: [String], family: Family) -> (rule: Rule, tagged: Bool)? {
        var reader = WordReader(words: words)
        var matches: [Match] = []
        var tagged = false
        func negation() -> Bool { reader.take("!") }

        // Header: addresses, then interfaces, then the protocol, each at most once.
        for (flag, make) in [("-s", Match.source), ("-d", Match.destination)] as [(String, (Prefix, Bool) -> Match)] {
            let negated = reader.peek == "!" && reader.peek(1) == flag
            if negated { reader.skip() }
            guard reader.take(flag) else {
                if negated { return nil }
                continue
            }
            guard let text = reader.next(), let prefix = try? Prefix.parse(Substring(text)), prefix.family == family else { return nil }
            matches.append(make(prefix, negated))
        }
        for (flag, make) in [("-i", Match.inInterface), ("-o", Match.outInterface)] as [(String, (String) -> Match)] where reader.take(flag) {
            guard let name = reader.next() else { return nil }
            matches.append(make(name))
        }
        var proto: L4Protocol?
        if reader.take("-p") {
            guard let text = reader.next(), let value = L4Protocol(rawValue: text) else { return nil }
            proto = value
        }

        // Match modules, in the rule's order.
        var portedProtocol = false
        while reader.take("-m") {
            guard let module = reader.next() else { return nil }
            switch module {
            case "tcp", "udp":
                guard module == proto?.rawValue, let proto else { return nil }
                let negated = negation()
                guard let option = reader.next(), option == "--dport" || option == "--sport",
                      let port = reader.next().flatMap(Port.init), port != 0 else { return nil }
                matches.append(option == "--dport" ? .destinationPort(proto, [port], negated: negated) : .sourcePort(proto, [port], negated: negated))
                portedProtocol = true
            case "multiport":
                guard let proto else { return nil }
                let negated = negation()
                guard let option = reader.next(), option == "--dports" || option == "--sports",
                      let list = reader.next() else { return nil }
                let ports = list.split(separator: ",").compactMap { Port($0) }
                guard ports.count > 1, ports.count == list.split(separator: ",").count, !ports.contains(0) else { return nil }
                matches.append(option == "--dports" ? .destinationPort(proto, ports, negated: negated) : .sourcePort(proto, ports, negated: negated))
                portedProtocol = true
            case "owner":
                let negated = negation()
                guard let option = reader.next(), option == "--uid-owner" || option == "--gid-owner",
                      let id = reader.next().flatMap(UInt32.init) else { return nil }
                matches.append(option == "--uid-owner" ? .socketUser(.id(id), negated: negated) : .socketGroup(.id(id), negated: negated))
            case "mark":
                let negated = negation()
                guard reader.take("--mark"), let value = reader.next().flatMap(hex) else { return nil }
                matches.append(.mark(value, negated: negated))
            case "connmark":
                guard reader.take("--mark"), let value = reader.next().flatMap(hex) else { return nil }
                matches.append(.connmark(value))
            case "conntrack":
                guard reader.take("--ctstate"), let list = reader.next() else { return nil }
                let states = list.split(separator: ",").compactMap { ConntrackState(rawValue: $0.lowercased()) }
                guard !states.isEmpty, states.count == list.split(separator: ",").count,
                      states == states.sorted(by: IptablesRenderer.iptablesOrder) else { return nil }
                matches.append(.conntrackState(states))
            case "limit":
                guard reader.take("--limit"), let rate = reader.next(), rate.hasSuffix("/sec"),
                      let perSecond = UInt32(rate.dropLast(4)), perSecond > 0 else { return nil }
                matches.append(.rateLimit(perSecond: perSecond))
            case "comment":
                guard reader.take("--comment"), let text = reader.next() else { return nil }
                // meshcap's tag only where the renderer puts it: first of the modules, once.
                if text == OwnershipTag.comment {
                    guard !tagged, matches.count == headerCount(matches) else { return nil }
                    tagged = true
                } else if !text.hasPrefix("istio/") {
                    // Another program's label says whose the rule is: not meshcap's, nor Istio's.
                    return nil
                }
                // Istio before 1.0 labelled each of its rules `istio/...`: a name, which changes
                // nothing a packet meets; the rule is read for what it does.
            default:
                return nil
            }
        }
        if let proto, !portedProtocol {
            // `-p` with no port match: the protocol is a match of its own, after the header.
            matches.insert(.l4proto(proto), at: headerCount(matches))
        }
        guard reader.take("-j"), let target = target(&reader, family: family), reader.isAtEnd else { return nil }
        // In canonical form, as the kernel would give the same words back (a /0 is dropped).
        return (IptablesRenderer.canonical(Rule(matches: matches, target: target)) { _, _ in nil }, tagged)
    }

    /// How many matches at the front are the header (addresses and interfaces).
    static func headerCount(_ matches: [Match]) -> Int {
        matches.prefix { match in
            switch match {
            case .source, .destination, .inInterface, .outInterface: true
            default: false
            }
        }.count
    }

    static func target(_ reader: inout WordReader, family: Family) -> Target? {
        guard let name = reader.next() else { return nil }
        let all = "0xffffffff"
        switch name {
        case "ACCEPT": return .accept
        case "DROP": return .drop
        case "RETURN": return .return
        case "REDIRECT":
            guard reader.take("--to-ports"), let port = reader.next().flatMap(Port.init), port != 0 else { return nil }
            return .redirect(toPort: port)
        case "TPROXY":
            guard reader.take("--on-port"), let port = reader.next().flatMap(Port.init), port != 0,
                  reader.take("--on-ip"), reader.take(family == .ipv4 ? "0.0.0.0" : "::"),
                  reader.take("--tproxy-mark"), let mark = masked(reader.next(), all) else { return nil }
            return .tproxy(toPort: port, mark: mark)
        case "MARK":
            guard reader.take("--set-xmark"), let mark = masked(reader.next(), all) else { return nil }
            return .setMark(mark)
        case "CONNMARK":
            let save = reader.take("--save-mark")
            guard save || reader.take("--restore-mark"),
                  reader.take("--nfmask"), reader.take(all), reader.take("--ctmask"), reader.take(all) else { return nil }
            return save ? .saveMarkToConnection : .restoreMarkFromConnection
        case "CT":
            guard reader.take("--zone"), let zone = reader.next().flatMap(UInt16.init) else { return nil }
            return .conntrackZone(zone)
        case "LOG":
            guard reader.take("--log-prefix"), let prefix = reader.next() else { return nil }
            return .log(prefix: prefix, group: nil)
        case "NFLOG":
            guard reader.take("--nflog-prefix"), let prefix = reader.next() else { return nil }
            guard reader.take("--nflog-group") else { return .log(prefix: prefix, group: 0) }
            guard let group = reader.next().flatMap(UInt16.init), group != 0 else { return nil }
            return .log(prefix: prefix, group: group)
        default:
            // A jump: only to one of the chains meshcap declares.
            let chain = ChainName.regular(name)
            return ChainName.istioChains.contains(chain) ? .jump(chain) : nil
        }
    }

    static func hex(_ text: String) -> UInt32? {
        guard text.hasPrefix("0x") else { return nil }
        return UInt32(text.dropFirst(2), radix: 16)
    }

    /// "0x539/0xffffffff": a mark with the full mask, which is all meshcap writes.
    static func masked(_ text: String?, _ all: String) -> UInt32? {
        guard let parts = text?.split(separator: "/"), parts.count == 2, parts[1] == all else { return nil }
        return hex(String(parts[0]))
    }

    struct WordReader {
        let words: [String]
        var position = 0
        var peek: String? { peek(0) }
        var isAtEnd: Bool { position >= words.count }
        func peek(_ ahead: Int) -> String? { words.indices.contains(position + ahead) ? words[position + ahead] : nil }
        mutating func skip() { position += 1 }
        mutating func next() -> String? {
            defer { position += 1 }
            return peek
        }
        mutating func take(_ word: String) -> Bool {
            guard peek == word else { return false }
            position += 1
            return true
        }
    }
}
