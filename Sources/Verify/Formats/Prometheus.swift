/// `--prometheus`: the node_exporter textfile format, so a fleet's Prometheus can alert on a VM
/// whose capture stopped (`meshcap_capture_healthy == 0`, or a flat `meshcap_captured_packets_total`).
public enum Prometheus {
    public static func render(_ report: VerifyReport) -> String {
        var lines: [String] = []
        func family(_ name: String, _ type: String, _ help: String) {
            lines += ["# HELP \(name) \(help)", "# TYPE \(name) \(type)"]
        }
        family("meshcap_packets_total", "counter", "Packets counted by meshcap's rules, per direction, family, port or range, and action.")
        for row in report.rows { lines.append("meshcap_packets_total\(labels(row)) \(row.packets)") }
        family("meshcap_bytes_total", "counter", "Bytes counted by meshcap's rules, as meshcap_packets_total.")
        for row in report.rows { lines.append("meshcap_bytes_total\(labels(row)) \(row.bytes)") }
        family("meshcap_seen_packets_total", "counter", "Packets through the hook's jump into meshcap's chains (nat: first packets of connections).")
        for total in report.totals { lines.append("meshcap_seen_packets_total{direction=\"\(total.direction.rawValue)\"} \(total.seen)") }
        family("meshcap_captured_packets_total", "counter", "Packets sent to the proxy by REDIRECT or TPROXY.")
        for total in report.totals { lines.append("meshcap_captured_packets_total{direction=\"\(total.direction.rawValue)\"} \(total.captured)") }
        family("meshcap_capture_healthy", "gauge", "1 when verify found nothing wrong, else 0.")
        lines.append("meshcap_capture_healthy \(report.healthy ? 1 : 0)")
        family("meshcap_problems", "gauge", "Problems verify found, by kind.")
        var kinds: [String: Int] = [:]
        for verdict in report.verdicts { kinds[verdict.kind.rawValue, default: 0] += 1 }
        for (kind, count) in kinds.sorted(by: { $0.key < $1.key }) { lines.append("meshcap_problems{kind=\"\(kind)\"} \(count)") }
        if !report.probes.isEmpty {
            family("meshcap_probe_passed", "gauge", "1 when the --probe path went where the config sends it, 0 when not (skipped paths are left out).")
            for probe in report.probes where probe.outcome != .skipped {
                lines.append("meshcap_probe_passed{path=\"\(escaped(probe.path.name))\"} \(probe.outcome == .passed ? 1 : 0)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func labels(_ row: CounterRow) -> String {
        let all = ["direction": row.direction.rawValue, "family": row.family, "action": row.action.rawValue].merging(row.labels) { $1 }
        return "{" + all.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(escaped($0.value))\"" }.joined(separator: ",") + "}"
    }

    /// Label values escape backslash, quote and newline.
    static func escaped(_ value: String) -> String {
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
