/// Reads KEY=VALUE files as VM setups write them (`cluster.env`, `sidecar.env`): `#` comments,
/// blank lines, an optional `export` prefix, values as one shell word (plain, single- or
/// double-quoted, or quoted pieces joined as istioctl's `shellescape.Quote` writes them:
/// `'it'"'"'s'`), a quoted value going on over several lines as the shell that sources the file
/// reads it (istio-start.sh sources cluster.env: `PROXY_CONFIG="` ... `"`). Values are taken literally: meshcap does not expand `$VAR` or run commands, so
/// a value that would need a shell to mean what it says is marked unreadable instead of being
/// read differently; whether that is an error depends on the key (see `ConfigLoader`).
public enum EnvFile {
    public static func parse(_ input: InputText) -> Result<[Setting], ConfigErrors> {
        var settings: [Setting] = []
        var errors: [ConfigError] = []
        var next = 0
        while next < input.lines.count {
            let index = next, rawLine = input.lines[index]
            next += 1
            let origin = Origin.file(path: input.name, line: index + 1)
            // Blanks after the value are the value's while a quote is open (`KEY="abc   ` ...).
            var line = rawLine.drop { $0.isWhitespace }
            if line.isEmpty || line.hasPrefix("#") { continue }
            // `export` and any blank after it, as a shell reads `export<TAB>KEY=...`.
            if line.hasPrefix("export"), let next = line.dropFirst("export".count).first, next == " " || next == "\t" {
                line = line.dropFirst("export".count).drop { $0.isWhitespace }
            }
            guard let equals = line.firstIndex(of: "=") else {
                errors.append(ConfigError(origin: origin, message: "\(rawLine.trimmingWhitespace().excerpt) is not KEY=VALUE"))
                continue
            }
            let key = String(line[..<equals])
            guard key.isEnvironmentName else {
                errors.append(ConfigError(origin: origin,
                    message: "\(key.excerpt) is not a key name; allowed: letters, digits and _, not starting with a digit"))
                continue
            }
            var text = String(line[line.index(after: equals)...])
            // A quote left open, or a backslash at the end: the value goes on over the next lines
            // (line ends and all inside quotes; a backslash and its line end join the lines),
            // until it closes; one that never does is this line's error, not one per line after it.
            if let quote = openQuote(Substring(text)) {
                while next < input.lines.count, openQuote(Substring(text)) != nil {
                    text += "\n" + input.lines[next]
                    next += 1
                }
                if openQuote(Substring(text)) != nil {
                    // The shell that sources the file stops there too (unexpected end of file).
                    let problem = quote == UInt8(ascii: "\\") ? "ends with a backslash on the file's last line: a shell would read on past its end"
                        : "the \(Character(Unicode.Scalar(quote))) quote is not closed: it opens here and no later line closes it"
                    errors.append(ConfigError(origin: origin, message: "\(key): \(problem); allowed: \(allowed)"))
                    continue
                }
            }
            switch word(Substring(text)) {
            case .success(let value): settings.append(Setting(key: key, value: value, origin: origin))
            case .failure(let problem): settings.append(Setting(key: key, unreadable: problem, origin: origin))
            }
        }
        return errors.isEmpty ? .success(settings) : .failure(ConfigErrors(errors: errors))
    }

    static let allowed = "a plain value, or one in single or double quotes, without shell expansion"
    /// What a shell would act on outside quotes (`#` only starts a comment after a blank).
    /// A table by byte, not a Set: looked up once per byte of values 10,000 prefixes long.
    static let shellSyntax = byteTable("$`\\;&|<>(){}\"'")
    /// What a shell would still expand inside double quotes.
    static let expandedInDoubleQuotes = byteTable("$`")
    /// What a backslash escapes inside double quotes; before anything else it is a backslash.
    static let escapedInDoubleQuotes = byteTable("$`\"\\\n")

    private static func byteTable(_ bytes: String) -> [Bool] {
        var table = [Bool](repeating: false, count: 256)
        for byte in bytes.utf8 { table[Int(byte)] = true }
        return table
    }

    /// The quote a value leaves open at its end, as a shell reads it (a quote inside the other
    /// kind is text), or a backslash when one ends it outside single quotes (the shell joins the
    /// next line); nil when every quote closes.
    static func openQuote(_ raw: Substring) -> UInt8? {
        var open: UInt8?, escaped = false
        for byte in raw.utf8 {
            // A backslash takes the next byte as it is, outside quotes and inside double ones
            // (`'o'\''brien'`, `"say \"hi"`); inside single quotes it is a backslash.
            if escaped { escaped = false; continue }
            if byte == UInt8(ascii: "\\"), open != UInt8(ascii: "'") { escaped = true; continue }
            if let quote = open {
                if byte == quote { open = nil }
            } else if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                open = byte
            } else if byte == UInt8(ascii: "#") {
                // A comment after the value: its quotes are not the value's (a `#` inside a word
                // is the word's; `word` says so, as it does today).
                break
            }
        }
        return escaped ? UInt8(ascii: "\\") : open
    }

    /// The value as one shell word: quoted and unquoted pieces joined, ended by a blank, after
    /// which only a comment may follow. Backslashes as the shell reads them: outside quotes one
    /// takes the next byte as it is (`'o'\''brien'`); inside double quotes only before `$`, `` ` ``,
    /// `"`, `\` or a line end (`"say \"hi\""`), elsewhere it is a backslash; inside single quotes
    /// always a backslash. An escaped line end joins the lines. Scanned on UTF-8 bytes: values can
    /// be 10,000 prefixes long.
    static func word(_ raw: Substring) -> Result<String, ValueProblem> {
        // Copied from contiguous storage at once, not byte by byte (a 10,000-prefix value).
        let bytes = raw.utf8.withContiguousStorageIfAvailable { Array($0) } ?? Array(raw.utf8)
        var value: [UInt8] = []
        var index = 0
        var quoted = false
        // An unquoted `~` at the start of an assignment's value, or after an unquoted `:`, is
        // a home directory to the shell.
        var tildeExpands = true
        func problem(_ text: String) -> Result<String, ValueProblem> { .failure(ValueProblem(text, allowed: allowed)) }
        while index < bytes.count {
            let byte = bytes[index]
            let afterColon = byte == UInt8(ascii: ":")
            defer { tildeExpands = afterColon }
            switch byte {
            case UInt8(ascii: "'"):
                guard let close = bytes[(index + 1)...].firstIndex(of: byte) else { return problem("the ' quote is not closed") }
                value += bytes[(index + 1)..<close]
                quoted = true
                index = close + 1
            case UInt8(ascii: "\""):
                index += 1
                var closed = false
                while index < bytes.count, !closed {
                    let inner = bytes[index]
                    if inner == UInt8(ascii: "\"") {
                        closed = true
                    } else if inner == UInt8(ascii: "\\"), index + 1 < bytes.count, escapedInDoubleQuotes[Int(bytes[index + 1])] {
                        index += 1
                        if bytes[index] != UInt8(ascii: "\n") { value.append(bytes[index]) }
                    } else if expandedInDoubleQuotes[Int(inner)] {
                        return problem("\"\(Character(Unicode.Scalar(inner)))\" would be expanded by a shell")
                    } else {
                        value.append(inner)
                    }
                    index += 1
                }
                guard closed else { return problem("the \" quote is not closed") }
                quoted = true
            case UInt8(ascii: "\\"):
                guard index + 1 < bytes.count else {
                    return problem("a backslash ends the value: a shell would go on reading the next line")
                }
                if bytes[index + 1] != UInt8(ascii: "\n") { value.append(bytes[index + 1]) }
                index += 2
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                let rest = raw.utf8.dropFirst(index).drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
                guard rest.isEmpty || rest.first == UInt8(ascii: "#") else {
                    return problem(quoted ? "text after the closing quote" : "an unquoted value with a space or tab")
                }
                return .success(String(decoding: value, as: UTF8.self))
            default:
                if shellSyntax[Int(byte)] { return problem("\"\(Character(Unicode.Scalar(byte)))\" is shell syntax") }
                if byte == UInt8(ascii: "~"), tildeExpands { return problem("\"~\" would be expanded by a shell (to a home directory)") }
                value.append(byte)
                index += 1
            }
        }
        return .success(String(decoding: value, as: UTF8.self))
    }
}

extension StringProtocol {
    /// The text in quotes, shortened to its start when long: a message should point at a line,
    /// not repeat 200 KB of it.
    public var excerpt: String {
        count <= 60 ? "\"\(self)\"" : "\"\(prefix(40))...\" (\(utf8.count) bytes)"
    }

    func trimmingWhitespace() -> SubSequence {
        // Most items (each of 10,000 prefixes) start and end with a printable ASCII byte: no
        // Character, whose whitespace test is a Unicode property lookup, needs to be made.
        if let first = first?.asciiValue, let last = last?.asciiValue, (0x21...0x7E).contains(first), (0x21...0x7E).contains(last) {
            return self[startIndex..<endIndex]
        }
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = lastIndex { !$0.isWhitespace }.map { index(after: $0) } ?? start
        return self[start..<Swift.max(start, end)]
    }

    var isEnvironmentName: Bool {
        guard let first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }
}
