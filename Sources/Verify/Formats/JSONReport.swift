/// `--json`: the report as one JSON object, keys in a fixed order, so a saved report diffs
/// cleanly. Written by hand: meshcap links no Foundation (see `TextFile`).
///
/// Schema `meshcap.verify/v1` (README § verify):
///   { "schema", "source", "against_config", "healthy",
///     "rows": [{ "direction", "family", "subject", "action", "labels": {…}, "packets", "bytes", "rules" }],
///     "totals": [{ "direction", "seen", "captured" }],
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
                         ("packets", .number(row.packets)), ("bytes", .number(row.bytes)), ("rules", .number(UInt64(row.rules)))])
            })),
            ("totals", .array(report.totals.map { .object([("direction", .string($0.direction.rawValue)), ("seen", .number($0.seen)), ("captured", .number($0.captured))]) })),
            ("problems", .array(report.verdicts.map { .object([("kind", .string($0.kind.rawValue)), ("message", .string($0.message))]) })),
            ("other_rules", .array(report.others.map {
                .object([("table", .string($0.table)), ("chain", .string($0.chain)), ("rule", .string($0.rule)), ("packets", .number($0.packets)), ("bytes", .number($0.bytes))])
            })),
            ("probes", .array(report.probes.map {
                .object([("path", .string($0.path.name)), ("family", .string($0.path.family == .ipv4 ? "ipv4" : "ipv6")),
                         ("target", .string($0.path.target.description)), ("captured", .bool($0.path.captured)),
                         ("result", .string($0.outcome.rawValue)), ("detail", .string($0.detail))])
            })),
            ("notes", .array(report.notes.map { .string($0) })),
        ])
        return value.text(indent: "") + "\n"
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

    func text(indent: String) -> String {
        var out = ""
        write(to: &out, indent: indent)
        return out
    }

    /// Into one string: built by joining each level's text, a 10,000-row report was copied once
    /// per level of nesting.
    func write(to out: inout String, indent: String) {
        let inner = indent + "  "
        switch self {
        case .string(let value): Self.quote(value, to: &out)
        case .number(let value): out += String(value)
        case .bool(let value): out += value ? "true" : "false"
        case .null: out += "null"
        case .array(let items):
            guard !items.isEmpty else { out += "[]"; return }
            out += "["
            for (index, item) in items.enumerated() {
                out += index == 0 ? "\n" : ",\n"
                out += inner
                item.write(to: &out, indent: inner)
            }
            out += "\n\(indent)]"
        case .object(let members):
            guard !members.isEmpty else { out += "{}"; return }
            out += "{"
            for (index, (key, value)) in members.enumerated() {
                out += index == 0 ? "\n" : ",\n"
                out += inner
                Self.quote(key, to: &out)
                out += ": "
                value.write(to: &out, indent: inner)
            }
            out += "\n\(indent)}"
        }
    }

    static func quote(_ text: String, to out: inout String) {
        out += "\""
        // Most strings need no escape: appended whole.
        guard text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
            out += text
            out += "\""
            return
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
