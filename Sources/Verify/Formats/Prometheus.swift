/// `--prometheus`: the node_exporter textfile format, so a fleet's Prometheus can alert on a VM
/// whose capture stopped (`meshcap_capture_healthy == 0`, or a flat `meshcap_captured_packets_total`).
public enum Prometheus {
    public static func render(_ report: VerifyReport) -> String {
        // Bytes into one buffer: 20,000 interpolated lines were most of the time at 10,000 rows.
        var out: [UInt8] = []
        func line(_ text: String) {
            out += text.utf8
            out.append(0x0a)
        }
        func sample(_ name: String, _ labels: String, _ value: UInt64) {
            out += name.utf8
            out += labels.utf8
            out.append(0x20)
            out += String(value).utf8
            out.append(0x0a)
        }
        func family(_ name: String, _ type: String, _ help: String) {
            line("# HELP \(name) \(help)")
            line("# TYPE \(name) \(type)")
        }
        family("meshcap_packets_total", "counter", "Packets counted by meshcap's rules, per direction, family, port or range, and action.")
        // Each row's labels written once, for both counters.
        let rowLabels = report.rows.map(labels)
        out.reserveCapacity(2 * rowLabels.reduce(0) { $0 + $1.utf8.count + 40 })
        // A row whose rules have no counter has no sample: absent, not 0.
        for (row, labels) in zip(report.rows, rowLabels) where row.counted { sample("meshcap_packets_total", labels, row.packets) }
        family("meshcap_bytes_total", "counter", "Bytes counted by meshcap's rules, as meshcap_packets_total.")
        for (row, labels) in zip(report.rows, rowLabels) where row.counted { sample("meshcap_bytes_total", labels, row.bytes) }
        family("meshcap_seen_packets_total", "counter", "Packets through the hook's jump into meshcap's chains (nat: first packets of connections).")
        for total in report.totals where total.counted { sample("meshcap_seen_packets_total", "{direction=\"\(total.direction.rawValue)\"}", total.seen) }
        family("meshcap_captured_packets_total", "counter", "Packets sent to the proxy by REDIRECT or TPROXY.")
        for total in report.totals where total.counted { sample("meshcap_captured_packets_total", "{direction=\"\(total.direction.rawValue)\"}", total.captured) }
        family("meshcap_capture_healthy", "gauge", "1 when verify found nothing wrong, else 0.")
        line("meshcap_capture_healthy \(report.healthy ? 1 : 0)")
        family("meshcap_problems", "gauge", "Problems verify found, by kind.")
        var kinds: [String: Int] = [:]
        for verdict in report.verdicts { kinds[verdict.kind.rawValue, default: 0] += 1 }
        for (kind, count) in kinds.sorted(by: { $0.key < $1.key }) { line("meshcap_problems{kind=\"\(kind)\"} \(count)") }
        if !report.probes.isEmpty {
            family("meshcap_probe_passed", "gauge", "1 when the --probe path went where the config sends it, 0 when not (skipped paths are left out).")
            for probe in report.probes where probe.outcome != .skipped {
                line("meshcap_probe_passed{path=\"\(escaped(probe.path.name))\"} \(probe.outcome == .passed ? 1 : 0)")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The row's labels, sorted by name: its own (which never use these three names) and its
    /// direction, family and action.
    static func labels(_ row: CounterRow) -> String {
        let all = (row.labels + [("direction", row.direction.rawValue), ("family", row.family), ("action", row.action.rawValue)])
            .sorted { $0.key < $1.key }
        var text = "{"
        for (index, label) in all.enumerated() {
            text += index == 0 ? "" : ","
            text += "\(label.key)=\"\(escaped(label.value))\""
        }
        return text + "}"
    }

    /// Label values escape backslash, quote and newline.
    static func escaped(_ value: String) -> String {
        // Most values have none of them: returned as they are.
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") }) else { return value }
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
