/// `--json`: the report as one JSON object, keys in a fixed order, so a saved report diffs
/// cleanly. Written by hand: meshcap links no Foundation (README § How it is built).
///
/// Schema `meshcap.verify/v1` (README § verify):
///   { "schema", "source", "against_config", "healthy",
///     "rows": [{ "direction", "family", "subject", "action", "labels": {…}, "packets", "bytes", "rules" }],
///     "totals": [{ "direction", "seen", "captured" }],
///     (packets, bytes, seen and captured are null where the rules have no counter: not 0)
///     "problems": [{ "kind", "message" }],
///     "other_rules": [{ "table", "chain", "rule", "packets", "bytes" }],
///     "probes": [{ "path", "family", "target", "captured", "result", "detail" }],   (with --probe)
///     "notes": [string] }
public enum JSONReport {
    public static func render(_ report: VerifyReport) -> String {
        let value: JSON = .object([
            ("schema", .string(report.schema)),
            ("source", .string(report.source)),
            ("against_config", .bool(report.againstConfig)),
            ("healthy", .bool(report.healthy)),
            ("rows", .array(report.rows.map { row in
                .object([("direction", .string(row.direction.rawValue)), ("family", .string(row.family)), ("subject", .string(row.subject)),
                         ("action", .string(row.action.rawValue)),
                         ("labels", .object(row.labels.map { ($0.key, .string($0.value)) })),
                         ("packets", row.counted ? .number(row.packets) : .null), ("bytes", row.counted ? .number(row.bytes) : .null),
                         ("rules", .number(UInt64(row.rules)))])
            })),
            ("totals", .array(report.totals.map {
                .object([("direction", .string($0.direction.rawValue)), ("seen", $0.counted ? .number($0.seen) : .null), ("captured", $0.counted ? .number($0.captured) : .null)])
            })),
            ("problems", .array(report.verdicts.map { .object([("kind", .string($0.kind.rawValue)), ("message", .string($0.message))]) })),
            ("other_rules", .array(report.others.map {
                .object([("table", .string($0.table)), ("chain", .string($0.chain)), ("rule", .string($0.rule)), ("packets", $0.counted ? .number($0.packets) : .null), ("bytes", $0.counted ? .number($0.bytes) : .null)])
            })),
            ("probes", .array(report.probes.map {
                .object([("path", .string($0.path.name)), ("family", .string($0.path.family == .ipv4 ? "ipv4" : "ipv6")),
                         ("target", .string($0.path.target.description)), ("captured", .bool($0.path.captured)),
                         ("result", .string($0.outcome.rawValue)), ("detail", .string($0.detail))])
            })),
            ("notes", .array(report.notes.map { .string($0) })),
        ])
        return value.text + "\n"
    }
}

/// Just enough JSON to write a report: objects keep their keys' order.
enum JSON {
    case string(String)
    case number(UInt64)
    case bool(Bool)
    case null
    case array([JSON])
    case object([(String, JSON)])

    /// Indented by two spaces a level, members in their given order.
    var text: String {
        var out: [UInt8] = []
        write(to: &out, indent: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// As bytes into one buffer: joining each level's text copied a 10,000-row report once per
    /// level of nesting, and appending to a String cost more than the rest of verify.
    func write(to out: inout [UInt8], indent: Int) {
        func newline(_ depth: Int) {
            out.append(0x0a)
            out.append(contentsOf: repeatElement(0x20, count: depth))
        }
        switch self {
        case .string(let value): Self.quote(value, to: &out)
        case .number(let value): out += String(value).utf8
        case .bool(let value): out += (value ? "true" : "false").utf8
        case .null: out += "null".utf8
        case .array(let items):
            guard !items.isEmpty else { out += "[]".utf8; return }
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                newline(indent + 2)
                item.write(to: &out, indent: indent + 2)
            }
            newline(indent)
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            guard !members.isEmpty else { out += "{}".utf8; return }
            out.append(UInt8(ascii: "{"))
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                newline(indent + 2)
                Self.quote(key, to: &out)
                out += ": ".utf8
                value.write(to: &out, indent: indent + 2)
            }
            newline(indent)
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A JSON string: quote, backslash and control characters escaped, the rest as its UTF-8.
    static func quote(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += "\\\"".utf8
            case UInt8(ascii: "\\"): out += "\\\\".utf8
            case UInt8(ascii: "\n"): out += "\\n".utf8
            case UInt8(ascii: "\r"): out += "\\r".utf8
            case UInt8(ascii: "\t"): out += "\\t".utf8
            case ..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += "\\u00".utf8
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xf)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
