/// The report as a table for people: one row per port, range, owner..., totals per direction,
/// then what is wrong. With `rates` (from `--watch`), a per-second column beside the packets.
public enum HumanTable {
    public static func render(_ report: VerifyReport, rates: [CounterRow.Key: Double]? = nil) -> String {
        let header = ["direction", "family", "port or range", "action", "packets", "bytes"] + (rates == nil ? [] : ["packets/s"])
        let columns = header.count
        // The cells row after row in one array, and each one's width in characters, counted
        // byte by byte where every byte is one (counting characters in general takes grapheme
        // breaking, a tenth of verify's time at 10,000 rows).
        var cells = header
        cells.reserveCapacity((report.rows.count + 1) * columns)
        for row in report.rows {
            cells += [row.direction.rawValue, row.family, row.subject, row.action.rawValue, String(row.packets), String(row.bytes)]
            if let rates { cells.append(Self.oneDecimal(rates[row.key] ?? 0)) }
        }
        let counts = cells.map { cell in cell.utf8.contains { $0 >= 0x80 } ? cell.count : cell.utf8.count }
        let widths = (0..<columns).map { column in stride(from: column, to: counts.count, by: columns).map { counts[$0] }.max() ?? 0 }
        // Written as bytes into one buffer: with a set of 10,000 prefixes this is 10,000 lines,
        // and string concatenation cost a third of verify's time.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(cells.count / columns * (widths.reduce(0, +) + 2 * columns + 1))
        for (index, cell) in cells.enumerated() {
            let column = index % columns
            if column > 0 { bytes.append(0x20); bytes.append(0x20) }
            // Text columns flush left, numbers flush right (the last column is a number: no line
            // ends in blanks).
            let pad = repeatElement(UInt8(0x20), count: widths[column] - counts[index])
            if column >= 4 { bytes += pad; bytes += cell.utf8 } else { bytes += cell.utf8; bytes += pad }
            if column == columns - 1 { bytes.append(0x0a) }
        }
        var text = "meshcap verify: \(report.source), \(report.againstConfig ? "against the config" : "rules recognised from where they sit")\n"
        text += String(decoding: bytes, as: UTF8.self)
        var lines: [String] = []
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
        for line in lines {
            text += line
            text += "\n"
        }
        return text
    }

    /// "12.5": a rate to one decimal, without Foundation's formatting.
    static func oneDecimal(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))"
    }
}
