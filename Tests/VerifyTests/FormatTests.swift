import IptablesBackend
import MeshCapture
import Testing
@testable import Verify

/// The output formats: what a parser on the other side (jq, Prometheus) needs them to be.
@Suite struct FormatTests {
    /// A reading made up of two rules, one with a subject that needs escaping everywhere.
    static let report: VerifyReport = {
        let rules = [
            ObservedRule(family: .ipv4, table: "nat", chain: "ISTIO_INBOUND", tableKind: .nat, chainName: .istioInbound, owner: .meshcap,
                         rule: Rule(.l4proto(.tcp), .destinationPort(.tcp, [8080]), then: .jump(.istioInRedirect)),
                         text: "-A ISTIO_INBOUND -p tcp -m tcp --dport 8080 -j ISTIO_IN_REDIRECT", packets: 12_345_678_901, bytes: 99),
            ObservedRule(family: .ipv4, table: "nat", chain: "PREROUTING", tableKind: .nat, chainName: .prerouting, owner: .meshcap,
                         rule: Rule(.inInterface("we\"i\\rd\n"), then: .return), text: "-A PREROUTING -i weird -j RETURN", packets: 1, bytes: 2),
            ObservedRule(family: .ipv4, table: "nat", chain: "ISTIO_IN_REDIRECT", tableKind: .nat, chainName: .istioInRedirect, owner: .meshcap,
                         rule: Rule(.l4proto(.tcp), then: .redirect(toPort: 15006)), text: "-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006",
                         packets: 3, bytes: 4),
        ]
        return VerifyReport(CounterReading(source: "test", dialect: IptablesDialect(), rules: rules, chains: nil), desired: nil)
    }()

    @Test func jsonEscapesAndKeepsLargeCounts() {
        let json = JSONReport.render(Self.report)
        #expect(json.contains(#""packets": 12345678901"#))
        #expect(json.contains(#""subject": "interface we\"i\\rd\n""#), "\(json)")
        #expect(json.hasPrefix("{\n  \"schema\": \"meshcap.verify/v1\",\n"))
    }

    /// Written byte by byte: control characters as \u00XX, the rest (UTF-8 included) as it is,
    /// two spaces a level.
    @Test func jsonStringsEscapeControlCharactersAndNestingIsIndented() {
        #expect(JSON.string("a\u{1}b\tc\rd\u{1f}\u{7f}é→\"\\").text == #""a\u0001b\tc\rd\u001f\#u{7f}é→\"\\""#)
        #expect(JSON.object([("k", .array([.number(1), .bool(false), .null, .object([]), .array([])]))]).text
                == "{\n  \"k\": [\n    1,\n    false,\n    null,\n    {},\n    []\n  ]\n}")
    }

    /// The table for people, byte for byte: text flush left, numbers flush right, widths from the
    /// widest cell (a non-ASCII subject counted in characters), the rates column with --watch.
    @Test func theTableAlignsItsColumns() {
        let rates = Dictionary(uniqueKeysWithValues: Self.report.rows.enumerated().map { ($1.key, Double($0) * 1234.56) })
        let rule = ObservedRule(family: .ipv6, table: "nat", chain: "PREROUTING", tableKind: .nat, chainName: .prerouting, owner: .meshcap,
                                rule: Rule(.inInterface("été0"), then: .return), text: "-A PREROUTING -i été0 -j RETURN", packets: 0, bytes: 1_000_000)
        let wide = VerifyReport(CounterReading(source: "test", dialect: IptablesDialect(), rules: [rule], chains: nil), desired: nil)
        let text = HumanTable.render(Self.report, rates: rates) + HumanTable.render(Self.report) + HumanTable.render(wide)
        #expect(text == Self.table)
    }

    static let table = #"""
        meshcap verify: test, rules recognised from where they sit
        direction  family  port or range       action       packets  bytes  packets/s
        inbound    ipv4    port 8080           capture  12345678901     99        0.0
        inbound    ipv4    interface we"i\rd
          exclude            1      2     1234.6
        inbound: 0 looked at since the hook's jump was (re)made, 3 sent to the proxy
        (nat rules count the first packet of each connection; mangle and raw rules count every packet)
        PROBLEM (missing-entry): the jump from PREROUTING into ISTIO_INBOUND is missing: no inbound traffic reaches meshcap's rules there
        meshcap verify: test, rules recognised from where they sit
        direction  family  port or range       action       packets  bytes
        inbound    ipv4    port 8080           capture  12345678901     99
        inbound    ipv4    interface we"i\rd
          exclude            1      2
        inbound: 0 looked at since the hook's jump was (re)made, 3 sent to the proxy
        (nat rules count the first packet of each connection; mangle and raw rules count every packet)
        PROBLEM (missing-entry): the jump from PREROUTING into ISTIO_INBOUND is missing: no inbound traffic reaches meshcap's rules there
        meshcap verify: test, rules recognised from where they sit
        direction  family  port or range   action   packets    bytes
        inbound    ipv6    interface été0  exclude        0  1000000
        (nat rules count the first packet of each connection; mangle and raw rules count every packet)
        capture looks right

        """#

    @Test func prometheusLabelsAreEscapedAndSorted() {
        let text = Prometheus.render(Self.report)
        #expect(text.contains(#"meshcap_packets_total{action="capture",direction="inbound",family="ipv4",port="8080",protocol="tcp"} 12345678901"#), "\(text)")
        #expect(text.contains(#"subject="interface we\"i\\rd\n"} 1"#), "\(text)")
        // A captured port without the jump into ISTIO_INBOUND: nothing reaches it, a problem, said as a gauge.
        #expect(text.contains("meshcap_capture_healthy 0"))
        #expect(text.contains(#"meshcap_problems{kind="missing-entry"} 1"#))
    }

    @Test func ratesHaveOneDecimal() {
        #expect(HumanTable.oneDecimal(12.345) == "12.3")
        #expect(HumanTable.oneDecimal(0.05) == "0.1")
        #expect(HumanTable.oneDecimal(0) == "0.0")
    }
}
