import MeshCapture

/// Just enough JSON to read `nft -j list ruleset`, parsed by hand: meshcap links no Foundation
/// (see `TextFile`). Every value knows the line it begins on, for messages, and where it is in
/// the text, so a rule can be shown as it was printed. Nesting is bounded: nft's output is a
/// dozen levels deep, and a pasted file of ten thousand `[` must not exhaust the stack.
struct JSONValue {
    enum Kind {
        case object([(key: String, value: JSONValue)])
        case array([JSONValue])
        case string(String)
        /// As written: counters go up to 2^64 - 1, which a Double cannot hold.
        case number(String)
        case bool(Bool)
        case null
    }

    let kind: Kind
    let line: Int
    /// Its bytes in the text.
    let range: Range<Int>

    static let maximumDepth = 64

    subscript(_ key: String) -> JSONValue? {
        guard case .object(let members) = kind else { return nil }
        return members.first { $0.key == key }?.value
    }

    var string: String? { if case .string(let value) = kind { value } else { nil } }
    var array: [JSONValue]? { if case .array(let items) = kind { items } else { nil } }
    var isNull: Bool { if case .null = kind { true } else { false } }

    /// A whole number: digits only.
    var unsigned: UInt64? { if case .number(let text) = kind { UInt64(digits: text) } else { nil } }
    var signed: Int64? {
        guard case .number(let text) = kind else { return nil }
        return text.hasPrefix("-") ? UInt64(digits: text.dropFirst()).flatMap { $0 <= UInt64(Int64.max) ? -Int64($0) : nil }
            : UInt64(digits: text).flatMap { $0 <= UInt64(Int64.max) ? Int64($0) : nil }
    }

    /// The object's only member (nft writes each statement and each list entry as `{"kind": {...}}`).
    var single: (key: String, value: JSONValue)? {
        guard case .object(let members) = kind, members.count == 1 else { return nil }
        return members[0]
    }

    struct SyntaxError: Error {
        let line: Int
        let column: Int
        let problem: String
    }

    static func parse(_ text: String) throws(SyntaxError) -> JSONValue {
        var parser = Parser(bytes: Array(text.utf8))
        parser.skipBlanks()
        let value = try parser.value(depth: 0)
        parser.skipBlanks()
        guard parser.position == parser.bytes.count else { throw parser.error("text after the JSON value") }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var position = 0
        var line = 1
        var lineStart = 0

        /// What is wrong where the parser is; at the end of the text, that it is cut short.
        func error(_ problem: String) -> SyntaxError {
            SyntaxError(line: line, column: position - lineStart + 1, problem: position < bytes.count ? problem : "the text is cut short (\(problem))")
        }

        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipBlanks() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d {
                position += 1
                if byte == 0x0a {
                    line += 1
                    lineStart = position
                }
            }
        }

        mutating func expect(_ byte: UInt8, _ what: String) throws(SyntaxError) {
            guard current == byte else { throw error("expected \(what)") }
            position += 1
        }

        mutating func value(depth: Int) throws(SyntaxError) -> JSONValue {
            guard depth < JSONValue.maximumDepth else { throw error("nested more than \(JSONValue.maximumDepth) levels deep") }
            let (start, startLine) = (position, line)
            func made(_ kind: Kind) -> JSONValue { JSONValue(kind: kind, line: startLine, range: start..<position) }
            switch current {
            case UInt8(ascii: "{")?:
                position += 1
                var members: [(key: String, value: JSONValue)] = []
                skipBlanks()
                if current == UInt8(ascii: "}") { position += 1; return made(.object(members)) }
                while true {
                    skipBlanks()
                    guard current == UInt8(ascii: "\"") else { throw error("expected a member's name in quotes") }
                    let key = try string()
                    skipBlanks()
                    try expect(UInt8(ascii: ":"), "':' after a member's name")
                    skipBlanks()
                    members.append((key, try value(depth: depth + 1)))
                    skipBlanks()
                    if current == UInt8(ascii: ",") { position += 1; continue }
                    try expect(UInt8(ascii: "}"), "',' or '}' after a member")
                    return made(.object(members))
                }
            case UInt8(ascii: "[")?:
                position += 1
                var items: [JSONValue] = []
                skipBlanks()
                if current == UInt8(ascii: "]") { position += 1; return made(.array(items)) }
                while true {
                    skipBlanks()
                    items.append(try value(depth: depth + 1))
                    skipBlanks()
                    if current == UInt8(ascii: ",") { position += 1; continue }
                    try expect(UInt8(ascii: "]"), "',' or ']' after an item")
                    return made(.array(items))
                }
            case UInt8(ascii: "\"")?:
                return made(.string(try string()))
            case UInt8(ascii: "t")?:
                try word("true")
                return made(.bool(true))
            case UInt8(ascii: "f")?:
                try word("false")
                return made(.bool(false))
            case UInt8(ascii: "n")?:
                try word("null")
                return made(.null)
            case let byte? where byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte):
                return made(.number(try number()))
            default:
                throw error("expected a value")
            }
        }

        mutating func word(_ word: StaticString) throws(SyntaxError) {
            let expected = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
            guard bytes.count - position >= expected.count, bytes[position..<(position + expected.count)].elementsEqual(expected) else {
                throw error("expected \(word)")
            }
            position += expected.count
        }

        /// JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
        mutating func number() throws(SyntaxError) -> String {
            let start = position
            func digits() -> Int {
                let from = position
                while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { position += 1 }
                return position - from
            }
            if current == UInt8(ascii: "-") { position += 1 }
            let first = current
            let count = digits()
            guard count > 0, first != UInt8(ascii: "0") || count == 1 else { throw error("a malformed number") }
            if current == UInt8(ascii: ".") {
                position += 1
                guard digits() > 0 else { throw error("a malformed number") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                position += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
                guard digits() > 0 else { throw error("a malformed number") }
            }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }

        /// A quoted string, escapes resolved (a lone surrogate becomes U+FFFD).
        mutating func string() throws(SyntaxError) -> String {
            position += 1
            var scalars = String.UnicodeScalarView()
            var runStart = position
            func flush() { scalars.append(contentsOf: String(decoding: bytes[runStart..<position], as: UTF8.self).unicodeScalars) }
            while true {
                guard let byte = current else { throw error("a string without its closing quote") }
                switch byte {
                case UInt8(ascii: "\""):
                    flush()
                    position += 1
                    return String(scalars)
                case UInt8(ascii: "\\"):
                    flush()
                    position += 1
                    guard let escaped = current else { throw error("a string without its closing quote") }
                    position += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(Unicode.Scalar(escaped))
                    case UInt8(ascii: "b"): scalars.append("\u{8}")
                    case UInt8(ascii: "f"): scalars.append("\u{c}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if (0xd800..<0xdc00).contains(code), bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                            let saved = position
                            position += 2
                            let low = try hex4()
                            if (0xdc00..<0xe000).contains(low) { code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00) } else { position = saved }
                        }
                        scalars.append(Unicode.Scalar(code) ?? "\u{fffd}")
                    default:
                        throw error("an unknown escape \\\(Unicode.Scalar(escaped))")
                    }
                    runStart = position
                case 0x00..<0x20:
                    throw error("a control character inside a string")
                default:
                    position += 1
                }
            }
        }

        mutating func hex4() throws(SyntaxError) -> UInt32 {
            guard bytes.count - position >= 4 else { throw error("a \\u escape without four hex digits") }
            var code: UInt32 = 0
            for _ in 0..<4 {
                guard let digit = hexValue(bytes[position]) else { throw error("a \\u escape without four hex digits") }
                code = code << 4 | digit
                position += 1
            }
            return code
        }

        func hexValue(_ byte: UInt8) -> UInt32? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
            default: nil
            }
        }
    }
}

extension DumpCount {
    /// The count a value of `nft -j` writes: a JSON number in digits.
    static func read(_ value: JSONValue) throws(Problem) -> UInt64 {
        switch value.kind {
        case .number(let text):
            if text.contains(where: { $0 == "e" || $0 == "E" }) && !text.hasPrefix("-") {
                throw Problem(reason: "\(shown(text)) has an exponent: nft writes a count in digits")
            }
            return try read(text).value
        case .string(let text): throw Problem(reason: "\(shown("\"\(text)\"")) is a string, not a number")
        case .null: throw Problem(reason: "null is not a number")
        case .bool(let flag): throw Problem(reason: "\(flag) is not a number")
        case .object: throw Problem(reason: "an object is not a number")
        case .array: throw Problem(reason: "a list is not a number")
        }
    }

    /// The same for a count of `nft -j`.
    static func read(_ value: JSONValue, _ which: String, in context: some StringProtocol,
                     _ fail: (String) -> DumpError) throws(DumpError) -> UInt64 {
        do {
            return try read(value)
        } catch {
            throw fail("the \(which) count in \(DumpText.quoted(context)): \(error.reason)")
        }
    }
}
