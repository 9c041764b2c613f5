/// Reads KEY=VALUE files as VM setups write them (`cluster.env`, `sidecar.env`): `#` comments,
/// blank lines, an optional `export ` prefix, values optionally in single or double quotes.
/// Values are taken literally: meshcap does not expand `$VAR` or run commands, so a value that
/// would need a shell to mean what it says is refused instead of being read differently.
public enum EnvFile {
    public static func parse(_ text: String, path: String) -> Result<[Setting], ConfigErrors> {
        var settings: [Setting] = []
        var errors: [ConfigError] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let origin = Origin.file(path: path, line: index + 1)
            var line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = line.dropFirst("export ".count).trimmingWhitespace() }
            guard let equals = line.firstIndex(of: "=") else {
                errors.append(ConfigError(origin: origin, message: "\"\(rawLine)\" is not KEY=VALUE"))
                continue
            }
            let key = String(line[..<equals])
            guard key.isEnvironmentName else {
                errors.append(ConfigError(origin: origin,
                    message: "\"\(key)\" is not a key name; allowed: letters, digits and _, not starting with a digit"))
                continue
            }
            switch unquote(line[line.index(after: equals)...]) {
            case .success(let value): settings.append(Setting(key: key, value: value, origin: origin))
            case .failure(let problem): errors.append(ConfigError(origin: origin, message: "\(key): \(problem.problem); allowed: \(problem.allowed)"))
            }
        }
        return errors.isEmpty ? .success(settings) : .failure(ConfigErrors(errors: errors))
    }

    static let shellSyntax: Set<Character> = ["$", "`", "\\", ";", "&", "|", "<", ">", "(", ")", "{", "}"]
    static let shellBytes = Set((shellSyntax.map(String.init).joined() + "'\"").utf8)

    static func unquote(_ raw: Substring) -> Result<String, ValueProblem> {
        let allowed = "a plain value, or one in single or double quotes, without shell expansion"
        if let quote = raw.first, quote == "'" || quote == "\"" {
            let body = raw.dropFirst()
            guard let close = body.utf8.firstIndex(of: quote == "'" ? UInt8(ascii: "'") : UInt8(ascii: "\"")) else {
                return .failure(ValueProblem("the \(quote) quote is not closed", allowed: allowed))
            }
            let rest = body[body.index(after: close)...].trimmingWhitespace()
            guard rest.isEmpty || rest.hasPrefix("#") else {
                return .failure(ValueProblem("text after the closing quote", allowed: allowed))
            }
            let value = body[..<close]
            if quote == "\"", let bad = value.utf8.first(where: { $0 == UInt8(ascii: "$") || $0 == UInt8(ascii: "`") || $0 == UInt8(ascii: "\\") }) {
                return .failure(ValueProblem("\"\(Character(Unicode.Scalar(bad)))\" would be expanded by a shell", allowed: allowed))
            }
            return .success(String(value))
        }
        // Unquoted: a shell ends the value at whitespace, and " #" starts a comment. The syntax is
        // ASCII, so it is scanned on UTF-8 bytes (values can be 10,000 prefixes long).
        let blank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }
        var value = raw
        var previous: UInt8 = UInt8(ascii: " ")
        for index in raw.utf8.indices {
            let byte = raw.utf8[index]
            if byte == UInt8(ascii: "#") && blank(previous) {
                value = raw[..<index]
                break
            }
            previous = byte
        }
        value = value.trimmingWhitespace()
        if value.utf8.contains(where: blank) {
            return .failure(ValueProblem("an unquoted value with a space", allowed: allowed))
        }
        if let bad = value.utf8.first(where: { shellBytes.contains($0) }) {
            return .failure(ValueProblem("\"\(Character(Unicode.Scalar(bad)))\" is shell syntax", allowed: allowed))
        }
        return .success(String(value))
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> SubSequence {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = lastIndex { !$0.isWhitespace }.map { index(after: $0) } ?? start
        return self[start..<Swift.max(start, end)]
    }

    var isEnvironmentName: Bool {
        guard let first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }
}
