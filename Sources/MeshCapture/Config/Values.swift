/// Parsers for one value each. They know nothing of keys or files; `ValueProblem` says what was
/// wrong and what is allowed, and the caller adds the key and where it was written. The public
/// ones are for flags that take such a value outside the config (explain's --dst, --uid,
/// --iface): what the config refuses, they refuse in the same words.
public enum Values {
    static let portAllowed = "ports 1–65535 separated by commas"

    /// Comma-separated items. Items are trimmed; a trailing comma is tolerated (Istio's own
    /// tests write `6000,7000,`), any other empty item is a mistake worth pointing at.
    static func items(_ text: String, allowed: String) throws(ValueProblem) -> [Substring] {
        if text.trimmingWhitespace().isEmpty { return [] }
        // Slices of the text at its commas' byte positions: a comma is one byte and one scalar,
        // and slicing keeps the text's storage (a Substring made from a UTF8View slice copied
        // each of 10,000 prefixes).
        var parts: [Substring] = []
        var start = text.startIndex
        var index = text.utf8.startIndex
        while index != text.utf8.endIndex {
            if text.utf8[index] == UInt8(ascii: ",") {
                parts.append(text[start..<index].trimmingWhitespace())
                start = text.utf8.index(after: index)
            }
            index = text.utf8.index(after: index)
        }
        parts.append(text[start...].trimmingWhitespace())
        if parts.count > 1, parts.last?.isEmpty == true { parts.removeLast() }
        if let empty = parts.firstIndex(where: { $0.isEmpty }) {
            throw ValueProblem("item \(empty + 1) of the list is empty", allowed: allowed)
        }
        return parts
    }

    public static func port(_ text: Substring, allowed: String) throws(ValueProblem) -> Port {
        guard !text.isEmpty, text.allSatisfy(\.isASCIIDigit) else {
            throw ValueProblem("\"\(text)\" is not a port number", allowed: allowed)
        }
        guard let number = Int(text), (1...65535).contains(number) else {
            throw ValueProblem("\(text) is outside 1–65535", allowed: allowed)
        }
        return Port(number)
    }

    static func ports(_ text: String, wildcard: Bool) throws(ValueProblem) -> Selection<Port> {
        let allowed = wildcard ? portAllowed + ", or * for all" : portAllowed + " (no *: this is an exclude list)"
        let parts = try items(text, allowed: allowed)
        if parts == ["*"] {
            guard wildcard else { throw ValueProblem("* would exclude every port", allowed: allowed) }
            return .all
        }
        var seen = Set<Port>()
        var result: [Port] = []
        for part in parts {
            if part == "*" { throw ValueProblem("* must stand alone", allowed: allowed) }
            let port = try port(part, allowed: allowed)
            guard seen.insert(port).inserted else {
                throw ValueProblem("port \(port) is listed twice", allowed: allowed)
            }
            result.append(port)
        }
        return result.isEmpty ? .none : .only(result)
    }

    static func prefix(_ text: Substring, allowed: String) throws(ValueProblem) -> Prefix {
        do {
            return try Prefix.parse(text)
        } catch {
            switch error {
            case .malformed:
                throw ValueProblem("\"\(text)\" is not an IPv4 or IPv6 prefix", allowed: allowed)
            case .lengthOutOfRange(let length, let family):
                throw ValueProblem("/\(length) is longer than an \(family == .ipv4 ? "IPv4 address (32" : "IPv6 address (128") bits)", allowed: allowed)
            case .hostBitsSet(let network, let hostBits):
                throw ValueProblem("\"\(text)\" has host bits set (\(hostBits) lies outside the /\(network.length) mask); the network is \(network)", allowed: allowed)
            }
        }
    }

    /// - Parameter side: what an exclude list's * would exclude every one of (source or destination).
    static func prefixes(_ text: String, wildcard: Bool, side: String = "destination") throws(ValueProblem) -> Selection<Prefix> {
        let allowed = "IPv4 or IPv6 prefixes such as 10.96.0.0/12 or fd00::/8 separated by commas"
            + (wildcard ? ", or * for all" : " (no *: this is an exclude list)")
        let parts = try items(text, allowed: allowed)
        if parts == ["*"] {
            guard wildcard else { throw ValueProblem("* would exclude every \(side)", allowed: allowed) }
            return .all
        }
        var result: [Prefix] = []
        for part in parts {
            if part == "*" { throw ValueProblem("* must stand alone", allowed: allowed) }
            result.append(try prefix(part, allowed: allowed))
        }
        return result.isEmpty ? .none : .only(result)
    }

    static func addresses(_ text: String, family: Family) throws(ValueProblem) -> [IPAddress] {
        let name = family == .ipv4 ? "IPv4" : "IPv6"
        let allowed = "\(name) addresses separated by commas"
        return try items(text, allowed: allowed).map { (part) throws(ValueProblem) -> IPAddress in
            guard let address = IPAddress(part) else {
                throw ValueProblem("\"\(part)\" is not an IP address", allowed: allowed)
            }
            guard address.family == family else {
                throw ValueProblem("\(part) is an \(family == .ipv4 ? "IPv6" : "IPv4") address", allowed: allowed)
            }
            return address
        }
    }

    static func boolean(_ text: String) throws(ValueProblem) -> Bool {
        // The spellings Go's strconv.ParseBool accepts, since Istio reads these keys with it.
        switch text {
        case "1", "t", "T", "true", "TRUE", "True": return true
        case "0", "f", "F", "false", "FALSE", "False", "": return false
        default: throw ValueProblem("\"\(text)\" is not a boolean", allowed: "true or false")
        }
    }

    /// MESHCAP_LOG: on with meshcap's prefix, on with a prefix of the user's, or off (false, and
    /// nil for unset). A boolean in any of Go's spellings is one. iptables' LOG takes a prefix of
    /// at most 29 characters, and meshcap adds up to 18 (" out passthrough: "); the characters
    /// are those no tool quotes differently.
    static func logPrefix(_ text: String) throws(ValueProblem) -> String?? {
        if text.isEmpty { return .none }
        if let on = try? boolean(text) { return .some(on ? "meshcap" : nil) }
        guard text.count <= 11, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-_".contains($0)) }) else {
            throw ValueProblem(text.count > 11 ? "\(text.count) characters, more than a log prefix every backend can write (11)"
                                   : "not a log prefix every backend can write (a character other than a letter, digit, '.', '_' or '-')",
                               allowed: "true or false (1, t, 0, f as Istio reads booleans), or a prefix of 1–11 letters, digits, '.', '_' or '-'")
        }
        return .some(text)
    }

    /// A 32-bit number, decimal or 0x-hex (as `ip rule` and iptables write marks).
    static func uint32(_ text: String, allowed: String) throws(ValueProblem) -> UInt32 {
        let hex = text.hasPrefix("0x")
        let digits = hex ? text.dropFirst(2) : Substring(text)
        guard !digits.isEmpty, digits.allSatisfy({ hex ? $0.isHexDigit : $0.isASCIIDigit }) else {
            throw ValueProblem("\"\(text)\" is not a number", allowed: allowed)
        }
        guard let value = UInt32(digits, radix: hex ? 16 : 10) else {
            throw ValueProblem("\(text) does not fit in 32 bits", allowed: allowed)
        }
        return value
    }

    static func mark(_ text: String) throws(ValueProblem) -> UInt32 {
        let allowed = "a packet mark 1–4294967295, decimal or 0x-hex"
        let mark = try uint32(text, allowed: allowed)
        guard mark != 0 else { throw ValueProblem("mark 0 is what unmarked packets carry", allowed: allowed) }
        return mark
    }

    static func routeTable(_ text: String) throws(ValueProblem) -> UInt32 {
        let allowed = "a routing table 1–252 or 256–4294967295 (253–255 are default, main and local)"
        let table = try uint32(text, allowed: allowed)
        guard table != 0, !(253...255).contains(table) else {
            throw ValueProblem("table \(table) is reserved", allowed: allowed)
        }
        return table
    }

    static let shellMetacharacters: Set<Character> = ["$", "`", "\\", ";", "&", "|", "<", ">", "(", ")", "{", "}", "*", "?", "!", "~", "#", "'", "\"", "[", "]"]

    /// Linux interface names: 1–15 bytes (IFNAMSIZ less the NUL), no '/', ':' or whitespace.
    /// Shell and glob characters are refused too: the kernel would take them, but in a rule
    /// file they are almost always a quoting accident, and nft would read `*` as a wildcard.
    static func interfaces(_ text: String) throws(ValueProblem) -> [String] {
        let allowed = "interface names of \(interfaceCharacters), separated by commas"
        return try items(text, allowed: allowed).map { (part) throws(ValueProblem) -> String in try interface(part, allowed: allowed) }
    }

    /// One interface name, as `interfaces` takes each.
    public static func interface(_ text: String) throws(ValueProblem) -> String {
        try interface(Substring(text), allowed: "an interface name of \(interfaceCharacters)")
    }

    static let interfaceCharacters = "1–15 letters, digits, '.', '_', '-' or '@'"

    private static func interface(_ part: Substring, allowed: String) throws(ValueProblem) -> String {
        if part.isEmpty {
            throw ValueProblem("the name is empty", allowed: allowed)
        }
        if part.utf8.count > 15 {
            throw ValueProblem("\"\(part)\" is \(part.utf8.count) bytes; Linux allows 15", allowed: allowed)
        }
        if let bad = part.first(where: { shellMetacharacters.contains($0) }) {
            throw ValueProblem("\"\(part)\" contains the shell metacharacter '\(bad)'", allowed: allowed)
        }
        if let bad = part.first(where: { $0 == "/" || $0 == ":" || $0.isWhitespace || !$0.isASCII || !($0.isLetter || $0.isNumber || ".-_@".contains($0)) }) {
            throw ValueProblem("\"\(part)\" contains \(bad.isWhitespace ? "a space" : "'\(bad)'")", allowed: allowed)
        }
        if part == "." || part == ".." {
            throw ValueProblem("\"\(part)\" is not a valid interface name", allowed: allowed)
        }
        return String(part)
    }

    /// A user name as passwd(5) holds it (the name need not exist: a missing account has a
    /// meaning, Istio's fallback UID). Empty means the default.
    static func accountName(_ text: String) throws(ValueProblem) {
        let allowed = "a user name (letters, digits, '.', '_', '-'), looked up in the passwd file"
        if let bad = text.first(where: { shellMetacharacters.contains($0) || $0.isWhitespace || $0 == ":" || $0 == "/" }) {
            throw ValueProblem("\"\(text)\" contains \(bad.isWhitespace ? "a space" : "'\(bad)'")", allowed: allowed)
        }
    }

    public enum Account: String, Sendable {
        case user
        case group

        func file(in accounts: AccountDatabase) -> String { self == .user ? accounts.passwdPath : accounts.groupPath }
    }

    /// UIDs or GIDs as numbers, or names that exist in the account database.
    static func owners(_ text: String, _ account: Account, accounts: AccountDatabase, max: Int? = nil) throws(ValueProblem) -> [Owner] {
        let allowed = "\(account) IDs 0–4294967294 or \(account) names from \(account.file(in: accounts)), separated by commas"
            + (max.map { ", at most \($0)" } ?? "")
        let parts = try items(text, allowed: allowed)
        if let max, parts.count > max {
            throw ValueProblem("\(parts.count) \(account)s are listed", allowed: allowed)
        }
        return try parts.map { (part) throws(ValueProblem) -> Owner in try owner(part, account, accounts: accounts, allowed: allowed).owner }
    }

    /// One UID or GID, as `owners` takes each, and the ID it stands for.
    public static func ownerID(_ text: String, _ account: Account, accounts: AccountDatabase) throws(ValueProblem) -> UInt32 {
        try owner(Substring(text), account, accounts: accounts, allowed: "a \(account) ID 0–4294967294 or a \(account) name from \(account.file(in: accounts))").id
    }

    private static func owner(_ part: Substring, _ account: Account, accounts: AccountDatabase, allowed: String) throws(ValueProblem) -> (owner: Owner, id: UInt32) {
        if !part.isEmpty, part.allSatisfy(\.isASCIIDigit) {
            // 4294967295 is (uid_t)-1, "no owner", which no socket can have.
            guard let id = UInt32(part), id != .max else {
                throw ValueProblem("\(part) is outside 0–4294967294", allowed: allowed)
            }
            return (.id(id), id)
        }
        if let bad = part.first(where: { shellMetacharacters.contains($0) || $0.isWhitespace }) {
            throw ValueProblem("\"\(part)\" contains the shell metacharacter '\(bad)'", allowed: allowed)
        }
        guard let id = accounts.id(of: String(part), isGroup: account == .group) else {
            throw ValueProblem("\"\(part)\" is neither a number nor a \(account) in \(account.file(in: accounts))", allowed: allowed)
        }
        return (.name(String(part)), id)
    }
}
