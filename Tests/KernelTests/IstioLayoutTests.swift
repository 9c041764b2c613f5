import Foundation
import Testing
import TestSupport

/// Rules as older Istio versions wrote them (written here from what those versions' rules do,
/// as the real dumps in ../shared/realworld show them), loaded into a namespace by the system's
/// own tools, real traffic sent through them, then plain `meshcap verify` on the live host: it
/// must recognise each layout and count what was sent.
@Suite(.serialized) struct IstioLayoutTests {
    static let peer = TestNetwork.peerAddress

    /// Istio 0.2: every rule labelled `istio/...`, all inbound TCP through ISTIO_REDIRECT to the
    /// one proxy port (15001), the proxy's user let by.
    static let istio02 = """
        *nat
        :ISTIO_OUTPUT - [0:0]
        :ISTIO_REDIRECT - [0:0]
        -A PREROUTING -m comment --comment istio/install-istio-prerouting -j ISTIO_REDIRECT
        -A OUTPUT -p tcp -m comment --comment istio/install-istio-output -j ISTIO_OUTPUT
        -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m comment --comment istio/redirect-implicit-loopback -j ISTIO_REDIRECT
        -A ISTIO_OUTPUT -m owner --uid-owner 1337 -m comment --comment istio/bypass-envoy -j RETURN
        -A ISTIO_OUTPUT -d 127.0.0.1/32 -m comment --comment istio/bypass-explicit-loopback -j RETURN
        -A ISTIO_OUTPUT -m comment --comment istio/redirect-default-outbound -j ISTIO_REDIRECT
        -A ISTIO_REDIRECT -p tcp -m comment --comment istio/redirect-to-envoy-port -j REDIRECT --to-ports 15001
        COMMIT

        """

    /// Istio 1.8 to 1.24 with DNS capture: UDP into ISTIO_OUTPUT too, DNS redirected to the agent
    /// (15053) inside ISTIO_OUTPUT, after the proxy's own DNS is let by.
    static let istio18DNS = """
        *nat
        :ISTIO_INBOUND - [0:0]
        :ISTIO_IN_REDIRECT - [0:0]
        :ISTIO_OUTPUT - [0:0]
        :ISTIO_REDIRECT - [0:0]
        -A PREROUTING -p tcp -j ISTIO_INBOUND
        -A OUTPUT -p tcp -j ISTIO_OUTPUT
        -A OUTPUT -p udp -j ISTIO_OUTPUT
        -A ISTIO_INBOUND -p tcp -m tcp --dport 15008 -j RETURN
        -A ISTIO_INBOUND -p tcp -m tcp --dport 15090 -j RETURN
        -A ISTIO_INBOUND -p tcp -m tcp --dport 15021 -j RETURN
        -A ISTIO_INBOUND -p tcp -m tcp --dport 15020 -j RETURN
        -A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
        -A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
        -A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN
        -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m multiport ! --dports 53,15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT
        -A ISTIO_OUTPUT -o lo -p tcp -m tcp ! --dport 53 -m owner ! --uid-owner 1337 -j RETURN
        -A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
        -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m tcp ! --dport 15008 -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT
        -A ISTIO_OUTPUT -o lo -p tcp -m tcp ! --dport 53 -m owner ! --gid-owner 1337 -j RETURN
        -A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
        -A ISTIO_OUTPUT -d \(peer)/32 -p tcp -m tcp --dport 53 -j REDIRECT --to-ports 15053
        -A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
        -A ISTIO_OUTPUT -j ISTIO_REDIRECT
        -A ISTIO_OUTPUT -p udp -m udp --dport 53 -m owner --uid-owner 1337 -j RETURN
        -A ISTIO_OUTPUT -p udp -m udp --dport 53 -m owner --gid-owner 1337 -j RETURN
        -A ISTIO_OUTPUT -d \(peer)/32 -p udp -m udp --dport 53 -j REDIRECT --to-ports 15053
        -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
        COMMIT

        """

    /// Istio 1.27's native nftables: meshcap's table names and chains, no counter statements.
    static let istio127nft = """
        table inet istio-proxy-nat {
        \tchain prerouting {
        \t\ttype nat hook prerouting priority dstnat; policy accept;
        \t\tmeta l4proto tcp jump istio-inbound
        \t}
        \tchain output {
        \t\ttype nat hook output priority -100; policy accept;
        \t\tjump istio-output
        \t}
        \tchain istio-inbound {
        \t\ttcp dport 15008 return
        \t\ttcp dport 15090 return
        \t\ttcp dport 15021 return
        \t\ttcp dport 15020 return
        \t\tmeta l4proto tcp jump istio-in-redirect
        \t}
        \tchain istio-redirect {
        \t\tmeta l4proto tcp redirect to :15001
        \t}
        \tchain istio-in-redirect {
        \t\tmeta l4proto tcp redirect to :15006
        \t}
        \tchain istio-output {
        \t\toifname "lo" ip saddr 127.0.0.6 return
        \t\toifname "lo" ip daddr != 127.0.0.1 tcp dport != 15008 meta skuid 1337 jump istio-in-redirect
        \t\toifname "lo" meta skuid != 1337 return
        \t\tmeta skuid 1337 return
        \t\tip daddr 127.0.0.1 return
        \t\tjump istio-redirect
        \t}
        }

        """

    @Test(.needsRoot) func istio02() throws {
        let network = try TestNetwork()
        let (workload, peer) = (network.workload, network.peer)
        try network.serve(in: workload, port: 15001, name: "proxy")
        try network.serve(in: workload, port: 8080, name: "app")
        try network.serve(in: peer, port: 8080, name: "peer")
        _ = try workload.exec(["iptables-nft-restore", "--noflush"], input: Self.istio02)
        for _ in 0..<3 { #expect(try network.connect(from: workload, to: Self.peer, port: 8080).hasPrefix("proxy")) }
        for _ in 0..<2 { #expect(try network.connect(from: workload, to: Self.peer, port: 8080, uid: 1337).hasPrefix("peer")) }
        for _ in 0..<4 { #expect(try network.connect(from: peer, to: TestNetwork.workloadAddress, port: 8080).hasPrefix("proxy")) }
        let reading = try VerifyTests.verify(workload)
        #expect(reading.status == 0 && reading.problems.isEmpty, "\(reading.problems) \(reading.stderr)")
        #expect(reading.totals["inbound"]?.seen == 4 && reading.totals["inbound"]?.captured == 4, "\(reading.totals)")
        #expect(reading.totals["outbound"]?.seen == 5 && reading.totals["outbound"]?.captured == 3, "\(reading.totals)")
        #expect(reading["outbound", "uid 1337", "bypass"] == 2 && reading["outbound", "other destinations", "capture"] == 3, "\(reading.rows)")
        #expect(reading.others.isEmpty, "\(reading.others)")
    }

    @Test(.needsRoot) func istio18WithDNSCapture() throws {
        let network = try TestNetwork()
        let workload = network.workload
        try network.serve(in: workload, port: 15001, name: "proxy-outbound")
        try network.serve(in: workload, port: 15053, name: "agent-dns", .udp)
        try network.serve(in: network.peer, port: 8080, name: "peer")
        _ = try workload.exec(["iptables-nft-restore", "--noflush"], input: Self.istio18DNS)
        for _ in 0..<3 { #expect(try network.connect(from: workload, to: Self.peer, port: 53, udp: true).hasPrefix("agent-dns")) }
        for _ in 0..<2 { #expect(try network.connect(from: workload, to: Self.peer, port: 8080).hasPrefix("proxy-outbound")) }
        let reading = try VerifyTests.verify(workload)
        #expect(reading.status == 0 && reading.problems.isEmpty, "\(reading.problems) \(reading.stderr)")
        #expect(reading["outbound", "dns \(Self.peer) udp", "agent"] == 3, "\(reading.rows)")
        #expect(reading["outbound", "dns \(Self.peer) tcp", "agent"] == 0, "\(reading.rows)")
        #expect(reading.rows["outbound port 53/udp exclude"] == nil, "\(reading.rows)")
        #expect(reading.totals["outbound"]?.captured == 2, "\(reading.totals)")
    }

    @Test(.needsRoot) func istio127NftablesWithoutCounters() throws {
        let network = try TestNetwork()
        let workload = network.workload
        try network.serve(in: workload, port: 15001, name: "proxy-outbound")
        try network.serve(in: network.peer, port: 8080, name: "peer")
        _ = try workload.exec(["nft", "-f", "-"], input: Self.istio127nft)
        for _ in 0..<2 { #expect(try network.connect(from: workload, to: Self.peer, port: 8080).hasPrefix("proxy-outbound")) }
        let result = try meshcapIn(workload, ["verify", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        let rows = object["rows"] as? [[String: Any]] ?? []
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(rows.contains { $0["subject"] as? String == "other destinations" && $0["action"] as? String == "capture" }, "\(rows)")
        #expect(!rows.isEmpty && rows.allSatisfy { $0["packets"] is NSNull }, "counts given for rules without counters: \(rows)")
        #expect((object["other_rules"] as? [Any] ?? []).isEmpty)

        // meshcap's apply of the same capture replaces the tables with rules that count.
        let config = ["-i", "*", "-b", "*", "--passwd-file", "/dev/null"]
        #expect(try meshcapIn(workload, ["apply"] + config).status == 0)
        for _ in 0..<2 { #expect(try network.connect(from: workload, to: Self.peer, port: 8080).hasPrefix("proxy-outbound")) }
        let counted = try VerifyTests.verify(workload, config)
        #expect(counted.status == 0 && counted["outbound", "other destinations", "capture"] == 2, "\(counted.rows) \(counted.problems)")
    }
}
