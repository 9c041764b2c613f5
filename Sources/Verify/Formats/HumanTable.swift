/// The report as a table for people: one row per port, range, owner..., totals per direction,
/// then what is wrong. With `rates` (from `--watch`), a per-second column beside the packets.
public enum HumanTable {
    public static func render(_ report: VerifyReport, rates: [CounterRow.Key: Double]? = nil) -> String {
        let header = ["direction", "family", "port or range", "action", "packets", "bytes"] + (rates == nil ? [] : ["packets/s"])
        let rateTexts = rates.map { rates in report.rows.map { oneDecimal(rates[$0.key] ?? 0) } }
        // Each column's width, from the cells' widths without making the cells: with a set of
        // 10,000 prefixes this is 10,000 lines, and building 60,000 strings first cost a third of
        // the table's time.
        var widths = header.map(\.utf8.count)
        // Subjects may be non-ASCII, and checking costs a pass over each: once, kept for writing.
        let subjectWidths = report.rows.map { width(of: $0.subject) }
        for (index, row) in report.rows.enumerated() {
            widths[0] = max(widths[0], row.direction.rawValue.utf8.count)
            widths[1] = max(widths[1], row.family.utf8.count)
            widths[2] = max(widths[2], subjectWidths[index])
            widths[3] = max(widths[3], row.action.rawValue.utf8.count)
            widths[4] = max(widths[4], row.counted ? digits(of: row.packets) : 1)
            widths[5] = max(widths[5], row.counted ? digits(of: row.bytes) : 1)
            if let rateTexts { widths[6] = max(widths[6], rateTexts[index].utf8.count) }
        }
        // Written as bytes into one buffer. Text columns flush left, numbers flush right (the last
        // column is a number: no line ends in blanks).
        var bytes = Array("meshcap verify: \(report.source), \(report.againstConfig ? "against the config" : "rules recognised from where they sit")\n".utf8)
        bytes.reserveCapacity(bytes.count + (report.rows.count + 1) * (widths.reduce(0, +) + 2 * widths.count + 1))
        func text(_ cell: String, width cellWidth: Int, column: Int) {
            if column > 0 { bytes += [0x20, 0x20] }
            let pad = repeatElement(UInt8(0x20), count: widths[column] - cellWidth)
            if column >= 4 { bytes += pad; bytes += cell.utf8 } else { bytes += cell.utf8; bytes += pad }
        }
        func number(_ value: UInt64, column: Int) {
            bytes += [0x20, 0x20]
            bytes += repeatElement(UInt8(0x20), count: widths[column] - digits(of: value))
            appendDecimal(value, to: &bytes)
        }
        for (column, title) in header.enumerated() { text(title, width: title.utf8.count, column: column) }
        bytes.append(0x0a)
        for (index, row) in report.rows.enumerated() {
            text(row.direction.rawValue, width: row.direction.rawValue.utf8.count, column: 0)
            text(row.family, width: row.family.utf8.count, column: 1)
            text(row.subject, width: subjectWidths[index], column: 2)
            text(row.action.rawValue, width: row.action.rawValue.utf8.count, column: 3)
            if row.counted {
                number(row.packets, column: 4)
                number(row.bytes, column: 5)
            } else {
                // Its rules have no counter: not counted, which is not 0.
                text("-", width: 1, column: 4)
                text("-", width: 1, column: 5)
            }
            if let rateTexts { text(rateTexts[index], width: rateTexts[index].utf8.count, column: 6) }
            bytes.append(0x0a)
        }
        var lines: [String] = []
        for total in report.totals {
            guard total.counted else {
                lines.append("\(total.direction.rawValue): not counted (its rules have no counter)")
                continue
            }
            // More handed over than came in: the hook's jump was missing or made again since
            // (its counter started anew); "0 looked at, 4 sent" would read as a contradiction.
            let seen = total.captured > total.seen ? "\(total.seen) looked at since the hook's jump was (re)made" : "\(total.seen) looked at"
            lines.append("\(total.direction.rawValue): \(seen), \(total.captured) sent to the proxy")
        }
        if !report.rows.isEmpty {
            lines.append("(nat rules count the first packet of each connection; mangle and raw rules count every packet)")
        }
        if !report.others.isEmpty {
            lines.append("other software's rules in the same chains:")
            lines += report.others.map { "  \($0.table) \($0.chain): \($0.rule)  (\($0.counted ? "\($0.packets) packets" : "not counted"))" }
        }
        if !report.probes.isEmpty {
            lines.append("probes:")
            let width = report.probes.map(\.path.name.count).max() ?? 0
            lines += report.probes.map { "  \($0.path.name)\(String(repeating: " ", count: width - $0.path.name.count))  \($0.outcome.rawValue): \($0.detail)" }
        }
        lines += report.notes.map { "note: \($0)" }
        lines += report.healthy ? ["capture looks right"] : report.verdicts.map { "PROBLEM (\($0.kind.rawValue)): \($0.message)" }
        for line in lines {
            bytes += line.utf8
            bytes.append(0x0a)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Columns on a terminal: a byte each where every byte is one character (counting characters
    /// in general takes grapheme breaking, a tenth of verify's time at 10,000 rows).
    static func width(of cell: String) -> Int {
        // One OR over the bytes in place, not a closure per byte through the view.
        let ascii = cell.utf8.withContiguousStorageIfAvailable { $0.reduce(0, |) < 0x80 } ?? cell.utf8.allSatisfy { $0 < 0x80 }
        return ascii ? cell.utf8.count : cell.count
    }

    static func digits(of value: UInt64) -> Int {
        var count = 1, rest = value
        while rest >= 10 {
            rest /= 10
            count += 1
        }
        return count
    }

    /// The number's decimal digits, written from the last.
    static func appendDecimal(_ value: UInt64, to bytes: inout [UInt8]) {
        var end = bytes.count + digits(of: value), rest = value
        bytes += repeatElement(UInt8(0x30), count: end - bytes.count)
        repeat {
            end -= 1
            bytes[end] = 0x30 + UInt8(rest % 10)
            rest /= 10
        } while rest > 0
    }

    /// "12.5": a rate to one decimal, without Foundation's formatting.
    static func oneDecimal(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))"
    }
}
