import Foundation
import Testing
import TestSupport

/// `verify --probe`: real connections along each path of the config, before any proxy runs.
/// It passes on rules meshcap applied, and names the path on each way of breaking them.
@Suite(.serialized) struct ProbeTests {
    static let config = ["-i", "\(TestNetwork.peerAddress)/32,\(TestNetwork.peerAddress6)/128", "-b", "8080", "-o", "9090", "--ipv6"]
    static let iptables = HostKind.iptablesNft.arguments

    /// Whether a line of the output holds both: a path, and what became of it.
    static func said(_ output: String, _ path: String, _ outcome: String) -> Bool {
        output.split(separator: "\n").contains { $0.contains(path + " ") && $0.contains("  " + outcome) }
    }

    /// The probe's lines ("  PATH  passed: ...") and its problems, with the exit status.
    static func probe(_ network: TestNetwork, _ config: [String] = config) throws -> (status: Int32, passed: Int, problems: [String], output: String) {
        let result = try meshcapIn(network.workload, ["verify", "--probe"] + config)
        let problems = result.stdout.split(separator: "\n").filter { $0.hasPrefix("PROBLEM (probe-failed): ") }.map { String($0.dropFirst("PROBLEM (probe-failed): ".count)) }
        let passed = result.stdout.split(separator: "\n").filter { $0.contains("  passed: ") }.count
        return (result.status, passed, problems, result.stdout + result.stderr)
    }

    @Test(.needsRoot, arguments: [HostKind.nft, .iptablesNft])
    func passesOnAppliedRules(_ kind: HostKind) throws {
        let network = try TestNetwork()
        try network.serve(in: network.peer, port: 9090, name: "peer")
        #expect(try meshcapIn(network.workload, ["apply"] + Self.config + kind.arguments).status == 0)
        let probe = try Self.probe(network)
        // Per family: the range captured, port 9090 excluded, the proxy's UID, inbound 8080.
        #expect(probe.status == 0 && probe.passed == 8 && probe.problems.isEmpty, "\(probe.output)")
        #expect(Self.said(probe.output, "inbound to port 8080 is captured (IPv6)", "passed: arrived on 15006 for [2001:db8:6d63::1]:8080"), "\(probe.output)")
        // The probe's peer is gone afterwards: its namespace and its end of the veth.
        #expect(!((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []).contains { $0.hasPrefix("meshcap-probe-") })
        #expect(try network.workload.exec("ip", "-o", "link").contains("mcprobe") == false)
    }

    @Test(.needsRoot)
    func tproxyInboundIsProbedThroughATransparentListener() throws {
        let network = try TestNetwork()
        let config = ["-m", "TPROXY", "-b", "8080", "-i", "\(TestNetwork.peerAddress)/32"]
        #expect(try meshcapIn(network.workload, ["apply"] + config).status == 0)
        let probe = try Self.probe(network, config)
        #expect(probe.status == 0 && probe.problems.isEmpty, "\(probe.output)")
        #expect(Self.said(probe.output, "inbound to port 8080 is captured", "passed: arrived on 15006 for 192.0.2.1:8080"), "\(probe.output)")
    }

    struct Breakage: Sendable, CustomTestStringConvertible {
        let testDescription: String
        /// iptables-nft -t nat commands that break the applied rules.
        let commands: [[String]]
        let failingPath: String
    }

    static let breakages = [
        Breakage(testDescription: "range rule deleted", commands: [["-D", "ISTIO_OUTPUT", "-d", "\(TestNetwork.peerAddress)/32", "-j", "ISTIO_REDIRECT"]],
                 failingPath: "outbound to \(TestNetwork.peerAddress)/32 is captured: not captured"),
        // Envoy runs with the proxy's UID and GID: each alone lets it through.
        Breakage(testDescription: "proxy UID and GID bypass deleted",
                 commands: [["-D", "ISTIO_OUTPUT", "-m", "owner", "--uid-owner", "1337", "-j", "RETURN"],
                            ["-D", "ISTIO_OUTPUT", "-m", "owner", "--gid-owner", "1337", "-j", "RETURN"]],
                 failingPath: "the proxy's own outbound (uid 1337) is not captured: captured: arrived on 15001"),
        Breakage(testDescription: "port exclusion deleted", commands: [["-D", "ISTIO_OUTPUT", "-p", "tcp", "-m", "tcp", "--dport", "9090", "-j", "RETURN"]],
                 failingPath: "outbound to excluded port 9090 is not captured: captured: arrived on 15001"),
        Breakage(testDescription: "inbound port rule deleted", commands: [["-D", "ISTIO_INBOUND", "-p", "tcp", "-m", "tcp", "--dport", "8080", "-j", "ISTIO_IN_REDIRECT"]],
                 failingPath: "inbound to port 8080 is captured: not captured"),
    ]

    @Test(.needsRoot, arguments: breakages)
    func namesTheBrokenPath(_ breakage: Breakage) throws {
        let network = try TestNetwork()
        try network.serve(in: network.peer, port: 9090, name: "peer")
        try network.serve(in: network.peer, port: 80, name: "peer")
        #expect(try meshcapIn(network.workload, ["apply"] + Self.config + Self.iptables).status == 0)
        for command in breakage.commands { _ = try network.workload.exec(["iptables-nft", "-t", "nat"] + command) }
        let probe = try Self.probe(network)
        #expect(probe.status == 1, "\(probe.output)")
        #expect(probe.problems.count == 1 && probe.problems[0].hasPrefix(breakage.failingPath), "\(probe.problems)\n\(probe.output)")
    }

    @Test(.needsRoot)
    func missingIPv6RulesFailTheIPv6Paths() throws {
        let network = try TestNetwork()
        #expect(try meshcapIn(network.workload, ["apply", "-i", "\(TestNetwork.peerAddress)/32", "-b", "8080"] + Self.iptables).status == 0)
        let probe = try Self.probe(network, ["-i", "\(TestNetwork.peerAddress)/32,\(TestNetwork.peerAddress6)/128", "-b", "8080", "--ipv6"])
        #expect(probe.status == 1)
        #expect(probe.problems.contains { $0.hasPrefix("outbound to \(TestNetwork.peerAddress6)/128 is captured: not captured") }, "\(probe.output)")
        #expect(probe.problems.contains { $0.hasPrefix("inbound to port 8080 is captured (IPv6): not captured") }, "\(probe.output)")
        #expect(probe.problems.allSatisfy { $0.contains("(IPv6)") || $0.contains(TestNetwork.peerAddress6) }, "only IPv6 paths fail: \(probe.problems)")
    }

    @Test(.needsRoot)
    func aTakenPortIsSaidAndItsPathsSkipped() throws {
        let network = try TestNetwork()
        try network.serve(in: network.workload, port: 15001, name: "envoy")
        #expect(try meshcapIn(network.workload, ["apply"] + Self.config).status == 0)
        let probe = try Self.probe(network)
        #expect(probe.output.contains("note: port 15001 is taken (is the proxy running?)"), "\(probe.output)")
        #expect(Self.said(probe.output, "outbound to \(TestNetwork.peerAddress)/32 is captured", "skipped: port 15001 is taken"), "\(probe.output)")
        #expect(probe.status == 0 && probe.passed == 2, "inbound paths still run: \(probe.output)")
    }

    /// DNS capture to the peer's address, as a DNS server: beside the paths of `config`, DNS over
    /// UDP and TCP reaching the agent's port, and the proxy's own DNS not captured.
    static let dnsConfig = config + ["--redirect-dns", "--dns-servers-v4", TestNetwork.peerAddress]
    static let dnsPaths = ["DNS to \(TestNetwork.peerAddress) over UDP is sent to the agent (15053)", "DNS to \(TestNetwork.peerAddress) over TCP is sent to the agent (15053)",
                           "the proxy's own DNS to \(TestNetwork.peerAddress) over UDP is not captured", "the proxy's own DNS to \(TestNetwork.peerAddress) over TCP is not captured"]

    @Test(.needsRoot, arguments: [HostKind.nft, .iptablesNft])
    func dnsCaptureIsProbed(_ kind: HostKind) throws {
        let network = try TestNetwork()
        #expect(try meshcapIn(network.workload, ["apply"] + Self.dnsConfig + kind.arguments).status == 0)
        let probe = try Self.probe(network, Self.dnsConfig)
        #expect(probe.status == 0 && probe.passed == 12 && probe.problems.isEmpty, "\(probe.output)")
        #expect(Self.said(probe.output, Self.dnsPaths[0], "passed: arrived on 15053 for \(TestNetwork.peerAddress):53"), "\(probe.output)")
        #expect(Self.said(probe.output, Self.dnsPaths[1], "passed: arrived on 15053 for \(TestNetwork.peerAddress):53"), "\(probe.output)")
        #expect(Self.said(probe.output, Self.dnsPaths[2], "passed: not captured (\(TestNetwork.peerAddress):53 sent)"), "\(probe.output)")
        // Nothing listens on the peer's port 53.
        #expect(Self.said(probe.output, Self.dnsPaths[3], "passed: not captured (\(TestNetwork.peerAddress):53 refused)"), "\(probe.output)")
    }

    /// Each of ISTIO_OUTPUT_DNS's REDIRECTs deleted in turn: that protocol's DNS path fails. TCP
    /// then falls to the peer's captured range, and reaches the proxy instead of the agent.
    @Test(.needsRoot, arguments: [("udp", "\(dnsPaths[0]): not captured: \(TestNetwork.peerAddress):53 sent"),
                                  ("tcp", "\(dnsPaths[1]): arrived on 15001, not 15053, for \(TestNetwork.peerAddress):53")])
    func aDeletedDNSRuleFailsItsPath(_ proto: String, _ problem: String) throws {
        let network = try TestNetwork()
        #expect(try meshcapIn(network.workload, ["apply"] + Self.dnsConfig + Self.iptables).status == 0)
        let saved = try network.workload.exec("iptables-nft-save", "-t", "nat").split(separator: "\n")
        let rule = try #require(saved.first { $0.hasPrefix("-A ISTIO_OUTPUT_DNS ") && $0.contains("-p \(proto) ") && $0.contains("--dport 53 ") && $0.contains("-j REDIRECT --to-ports 15053") },
                                "\(saved.joined(separator: "\n"))")
        _ = try network.workload.exec(["iptables-nft", "-t", "nat", "-D"] + rule.split(separator: " ").dropFirst().map(String.init))
        let probe = try Self.probe(network, Self.dnsConfig)
        #expect(probe.status == 1 && probe.problems == [problem], "\(probe.output)")
    }

    /// Envoy holding both capture ports leaves no path to try: that proves nothing, and is no pass.
    @Test(.needsRoot)
    func aProbeThatCouldTryNoPathFails() throws {
        let network = try TestNetwork()
        try network.serve(in: network.workload, port: 15001, name: "envoy")
        try network.serve(in: network.workload, port: 15006, name: "envoy")
        #expect(try meshcapIn(network.workload, ["apply"] + Self.config).status == 0)
        let probe = try Self.probe(network)
        #expect(probe.status == 1 && probe.passed == 0 && probe.problems.isEmpty, "\(probe.output)")
        #expect(probe.output.contains("PROBLEM (probe-unproven): none of the 8 probe paths could be tried, so the probes prove nothing: port 15001 is taken (6 paths), port 15006 is taken (2 paths); is the proxy running? Probe before it starts, or stop it"), "\(probe.output)")
        #expect(!probe.output.contains("capture looks right"), "\(probe.output)")
    }
}
