import Foundation
import IptablesBackend
import MeshCapture
import NftablesBackend
import Testing
import TestSupport

/// The compiled rules do what they claim on a real kernel: connections between two namespaces
/// over veth land on the proxy's ports, or bypass it, as the config says; the counters agree.
@Suite(.serialized) struct TrafficTests {
    enum Backend: String, CaseIterable { case iptables, nft }

    static let flags = ["-i", "198.51.100.2/32", "-b", "8080", "-o", "9090"]

    /// Compiles `flags` and loads the result into the workload namespace with each backend's loader.
    func load(_ backend: Backend, _ flags: [String] = Self.flags, into network: TestNetwork) throws {
        let plan = CapturePlan(try ConfigLoader.load(files: [], flags: flags, accounts: AccountDatabase(users: [:], groups: [:])).config)
        switch backend {
        case .iptables:
            for family in plan.config.families.sorted() {
                try network.workload.exec(family == .ipv4 ? "iptables-nft-restore" : "ip6tables-nft-restore", "--noflush",
                                          input: IptablesRenderer.render(plan.ruleset(for: .xtables(family))))
            }
        case .nft:
            try network.workload.exec("nft", "-f", "-", input: NftRenderer.render(plan.ruleset(for: .inet)))
        }
    }

    /// Packets counted by the rules of one nat chain.
    func packets(_ backend: Backend, chain: ChainName, in network: TestNetwork) throws -> Int {
        switch backend {
        case .iptables:
            let save = try network.workload.exec("iptables-nft-save", "-c", "-t", "nat")
            return save.split(separator: "\n").filter { $0.contains("-A \(chain) ") }.reduce(0) { total, line in
                total + (Int(line.dropFirst().prefix { $0 != ":" }) ?? 0)
            }
        case .nft:
            let list = try network.workload.exec("nft", "list", "chain", "inet", NftNames.table(.nat), NftNames.chain(chain))
            // "... counter packets N bytes M ...": sum the word after each "packets".
            let words = list.split(whereSeparator: \.isWhitespace)
            return zip(words, words.dropFirst()).reduce(0) { total, pair in
                pair.0 == "packets" ? total + (Int(pair.1) ?? 0) : total
            }
        }
    }

    @Test(.needsRoot, arguments: Backend.allCases)
    func trafficIsCapturedAsConfigured(_ backend: Backend) throws {
        let network = try TestNetwork()
        let (workload, peer) = (network.workload, network.peer)
        try network.serve(in: workload, port: 15001, name: "proxy-outbound")
        try network.serve(in: workload, port: 15006, name: "proxy-inbound")
        try network.serve(in: workload, port: 2222, name: "app")
        try network.serve(in: peer, port: 8080, name: "peer")
        try network.serve(in: peer, port: 9090, name: "peer")
        try load(backend, into: network)

        let peerAddress = TestNetwork.peerAddress, workloadAddress = TestNetwork.workloadAddress
        // Outbound to the included range goes to Envoy, which can still read where it was going.
        #expect(try network.connect(from: workload, to: peerAddress, port: 8080) == "proxy-outbound \(peerAddress):8080")
        // An excluded outbound port goes straight out.
        #expect(try network.connect(from: workload, to: peerAddress, port: 9090) == "peer \(peerAddress):9090")
        // The proxy's own traffic (UID 1337) is never captured again.
        #expect(try network.connect(from: workload, to: peerAddress, port: 8080, uid: 1337) == "peer \(peerAddress):8080")
        // Inbound to a listed port goes to Envoy's inbound port; other ports reach the app.
        #expect(try network.connect(from: peer, to: workloadAddress, port: 8080) == "proxy-inbound \(workloadAddress):8080")
        #expect(try network.connect(from: peer, to: workloadAddress, port: 2222) == "app \(workloadAddress):2222")

        // nat chains see the first packet of each connection: one capture each way.
        #expect(try packets(backend, chain: .istioRedirect, in: network) == 1)
        #expect(try packets(backend, chain: .istioInRedirect, in: network) == 1)
    }

    @Test(.needsRoot, arguments: Backend.allCases)
    func ipv6IsCapturedWhenEnabled(_ backend: Backend) throws {
        let network = try TestNetwork()
        let (workload, peer) = (network.workload, network.peer)
        try network.serve(in: workload, port: 15001, name: "proxy-outbound")
        try network.serve(in: workload, port: 15006, name: "proxy-inbound")
        try network.serve(in: peer, port: 8080, name: "peer")
        try load(backend, ["--ipv6", "-i", "\(TestNetwork.peerAddress6)/128", "-b", "8080"], into: network)

        #expect(try network.connect(from: workload, to: TestNetwork.peerAddress6, port: 8080) == "proxy-outbound [\(TestNetwork.peerAddress6)]:8080")
        #expect(try network.connect(from: peer, to: TestNetwork.workloadAddress6, port: 8080) == "proxy-inbound [\(TestNetwork.workloadAddress6)]:8080")
        #expect(try network.connect(from: workload, to: TestNetwork.peerAddress6, port: 8080, uid: 1337) == "peer [\(TestNetwork.peerAddress6)]:8080")
        // Only the IPv6 range was included: IPv4 to the same peer goes straight out.
        #expect(try network.connect(from: workload, to: TestNetwork.peerAddress, port: 8080) == "peer \(TestNetwork.peerAddress):8080")
    }

    /// DNS to a listed resolver goes to the agent on 15053, over UDP and TCP; the agent's own
    /// upstream query (UID 1337) reaches the resolver. The conntrack-zone rules keep the two apart.
    @Test(.needsRoot, arguments: Backend.allCases)
    func dnsGoesToTheAgent(_ backend: Backend) throws {
        let network = try TestNetwork()
        let (workload, peer) = (network.workload, network.peer)
        let resolver = TestNetwork.peerAddress
        try network.serve(in: workload, port: 15053, name: "agent", .udp)
        try network.serve(in: workload, port: 15053, name: "agent")
        try network.serve(in: peer, port: 53, name: "resolver", .udp)
        try load(backend, ["--redirect-dns", "--dns-servers-v4", resolver], into: network)

        #expect(try network.connect(from: workload, to: resolver, port: 53, udp: true) == "agent")
        #expect(try network.connect(from: workload, to: resolver, port: 53) == "agent \(resolver):53")
        #expect(try network.connect(from: workload, to: resolver, port: 53, uid: 1337, udp: true) == "resolver")
        // The app's query and the agent's upstream query sit in different conntrack zones.
        let zones = try workload.exec("cat", "/proc/net/nf_conntrack")
        #expect(zones.contains("zone=1") && zones.contains("zone=2"), "\(zones)")
    }

    /// TPROXY hands inbound connections to Envoy unchanged (the app keeps the client's address).
    /// `meshcap apply` programs the policy route for the mark with the rules (it routes the app's
    /// replies to Envoy's original-source connections back to lo): nothing by hand.
    @Test(.needsRoot, arguments: HostKind.allCases)
    func tproxyDeliversInboundUnchanged(_ kind: HostKind) throws {
        let network = try TestNetwork()
        let (workload, peer) = (network.workload, network.peer)
        try network.serve(in: workload, port: 15006, name: "proxy-inbound", .transparent)
        try network.serve(in: workload, port: 2222, name: "app")
        let applied = try meshcapIn(workload, ["apply", "-m", "TPROXY", "-b", "8080"] + kind.arguments)
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(try workload.exec("ip", "rule").contains("from all fwmark 0x539 lookup 133 proto 109"))

        let workloadAddress = TestNetwork.workloadAddress
        #expect(try network.connect(from: peer, to: workloadAddress, port: 8080) == "proxy-inbound \(workloadAddress):8080")
        #expect(try network.connect(from: peer, to: workloadAddress, port: 2222) == "app \(workloadAddress):2222")
        // A route removed by hand: diff says what is missing, and a second apply puts it back.
        try workload.exec("ip", "rule", "del", "fwmark", "1337", "lookup", "133")
        let diff = try meshcapIn(workload, ["diff", "-m", "TPROXY", "-b", "8080"] + kind.arguments)
        #expect(diff.status == 1 && diff.stdout.contains("+ip -4 rule add fwmark 1337 lookup 133"), "\(diff.stdout)")
        #expect(try meshcapIn(workload, ["apply", "-m", "TPROXY", "-b", "8080"] + kind.arguments).status == 0)
        #expect(try workload.exec("ip", "rule").contains("from all fwmark 0x539 lookup 133 proto 109"))
        #expect(try meshcapIn(workload, ["clean"]).status == 0)
        #expect(!(try workload.exec("ip", "rule").contains("lookup 133")))
    }
}
