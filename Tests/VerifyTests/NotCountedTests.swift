import IptablesBackend
import MeshCapture
import Testing
@testable import Verify

/// Rules without a counter (Istio's nftables rules until istio/istio#57216) are recognised, and
/// their numbers are "not counted" everywhere, never 0: the table's -, JSON's null, no
/// Prometheus sample, no verdict drawn from counts.
@Suite struct NotCountedTests {
    static let report: VerifyReport = {
        let config = try! VerdictTests.config(["-i", "10.96.0.0/12", "-b", "8080"])
        let counted = VerdictTests.reading(config)
        let rules = counted.rules.map { rule in
            ObservedRule(family: rule.family, table: rule.table, chain: rule.chain, tableKind: rule.tableKind, chainName: rule.chainName,
                         owner: rule.owner, rule: rule.rule, text: rule.text, packets: 0, bytes: 0, counted: false)
        }
        return VerifyReport(CounterReading(source: "test", dialect: IptablesDialect(), rules: rules, chains: nil), desired: nil)
    }()

    @Test func everyFormatSaysNotCounted() {
        let report = Self.report
        #expect(report.healthy && !report.rows.isEmpty && report.rows.allSatisfy { !$0.counted })
        #expect(report.totals.allSatisfy { !$0.counted })
        let table = HumanTable.render(report)
        #expect(table.contains("inbound: not counted (its rules have no counter)"), "\(table)")
        #expect(table.split(separator: "\n").filter { $0.hasPrefix("inbound ") || $0.hasPrefix("outbound ") }.allSatisfy { $0.hasSuffix("-      -") || $0.hasSuffix("-  -") || $0.hasSuffix(" -") }, "\(table)")
        #expect(table.contains("have no counter statement"))
        #expect(!table.contains("no packet has reached"))
        let json = JSONReport.render(report)
        #expect(json.contains("\"packets\": null") && !json.contains("\"packets\": 0"), "\(json)")
        let prometheus = Prometheus.render(report)
        #expect(!prometheus.contains("meshcap_packets_total{") && !prometheus.contains("meshcap_seen_packets_total{"), "\(prometheus)")
        #expect(prometheus.contains("meshcap_capture_healthy 1"))
    }

    /// The same rules with counters that read 0: zero, said as such.
    @Test func zeroIsNotNotCounted() {
        let config = try! VerdictTests.config(["-i", "10.96.0.0/12", "-b", "8080"])
        let report = VerifyReport(VerdictTests.reading(config), desired: nil)
        #expect(report.rows.allSatisfy { $0.counted })
        #expect(JSONReport.render(report).contains("\"packets\": 0"))
        #expect(Prometheus.render(report).contains("meshcap_packets_total{"))
    }
}
