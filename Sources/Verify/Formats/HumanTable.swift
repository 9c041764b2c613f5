/// The report as a table for people: one row per port, range, owner..., totals per direction,
/// then what is wrong. With `rates` (from `--watch`), a per-second column beside the packets.
public enum HumanTable {
    public static func render(_ report: VerifyReport, rates: [CounterRow.Key: Double]? = nil) -> String {
        var lines = ["meshcap verify: \(report.source), \(report.againstConfig ? "against the config" : "rules recognised from where they sit")"]
        var table: [[String]] = [["direction", "family", "port or range", "action", "packets", "bytes"] + (rates == nil ? [] : ["packets/s"])]
        for row in report.rows {
            table.append([row.direction.rawValue, row.family, row.subject, row.action.rawValue, String(row.packets), String(row.bytes)]
                         + (rates.map { [Self.oneDecimal($0[row.key] ?? 0)] } ?? []))
        }
        let widths = table[0].indices.map { column in table.map { $0[column].count }.max() ?? 0 }
        // Text columns flush left, numbers flush right.
        let numeric = Set(4..<table[0].count)
        for row in table {
            lines.append(row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return numeric.contains(column) ? pad + cell : cell + pad
            }.joined(separator: "  ").trimmingTrailingSpaces)
        }
        for total in report.totals {
            lines.append("\(total.direction.rawValue): \(total.seen) looked at, \(total.captured) sent to the proxy")
        }
        if !report.rows.isEmpty {
            lines.append("(nat rules count the first packet of each connection; mangle and raw rules count every packet)")
        }
        if !report.others.isEmpty {
            lines.append("other software's rules in the same chains:")
            lines += report.others.map { "  \($0.table) \($0.chain): \($0.rule)  (\($0.packets) packets)" }
        }
        if !report.probes.isEmpty {
            lines.append("probes:")
            let width = report.probes.map(\.path.name.count).max() ?? 0
            lines += report.probes.map { "  \($0.path.name)\(String(repeating: " ", count: width - $0.path.name.count))  \($0.outcome.rawValue): \($0.detail)" }
        }
        lines += report.notes.map { "note: \($0)" }
        lines += report.healthy ? ["capture looks right"] : report.verdicts.map { "PROBLEM (\($0.kind.rawValue)): \($0.message)" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// "12.5": a rate to one decimal, without Foundation's formatting.
    static func oneDecimal(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))"
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
