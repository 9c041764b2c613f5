import Foundation
import Testing
import TestSupport

/// `--log-group`: one captured connection in each direction is one NFLOG message each, with the
/// prefix naming direction and verdict, read over nfnetlink_log inside the test's namespace (the
/// kernel log is off in a namespace, and the tests change no sysctl). The logged ruleset reads
/// back as the config's (diff, verify); an apply without `--log` takes the log rules away.
@Suite struct LoggingTests {
    static let config = ["-b", "8080", "-i", "\(TestNetwork.peerAddress)/32"]

    /// With TPROXY the inbound log rule is in mangle, which sees every packet: still one message.
    @Test(.needsRoot, arguments: [(HostKind.nft, false), (.iptablesNft, false), (.iptablesLegacy, false), (.nft, true), (.iptablesLegacy, true)])
    func aCapturedConnectionIsOneMessage(_ kind: HostKind, tproxy: Bool) throws {
        let network = try TestNetwork()
        try network.serve(in: network.workload, port: 15001, name: "proxy-outbound")
        try network.serve(in: network.workload, port: 15006, name: "proxy-inbound", tproxy ? .transparent : .tcp)
        try network.serve(in: network.peer, port: 80, name: "peer")
        try network.serve(in: network.peer, port: 80, name: "peer-udp", .udp)
        let mode = tproxy ? ["-m", "TPROXY"] : []
        let logged = Self.config + mode + ["--log-group", "7"] + kind.arguments
        let applied = try meshcapIn(network.workload, ["apply"] + logged)
        #expect(applied.status == 0, "\(applied.stderr)")

        let listener = Process()
        let output = Pipe()
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        listener.arguments = ["ip", "netns", "exec", network.workload.name, "python3", TestNetwork.probe, "nflog", "7", "5"]
        listener.standardOutput = output
        try listener.run()
        // Bound once the namespace lists the group's instance.
        for _ in 0..<100 {
            if try !network.workload.exec("cat", "/proc/net/netfilter/nfnetlink_log").isEmpty { break }
            usleep(20_000)
        }
        #expect(try network.connect(from: network.peer, to: TestNetwork.workloadAddress, port: 8080).hasPrefix("proxy-inbound"))
        #expect(try network.connect(from: network.workload, to: TestNetwork.peerAddress, port: 80).hasPrefix("proxy-outbound"))
        // UDP to the captured range reaches ISTIO_REDIRECT but is not redirected: not logged as captured.
        #expect(try network.connect(from: network.workload, to: TestNetwork.peerAddress, port: 80, udp: true).hasPrefix("peer-udp"))
        listener.waitUntilExit()
        let lines = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
        print("nflog group 7 (\(kind.rawValue)\(tproxy ? ", TPROXY" : "")):\n" + lines.joined(separator: "\n"))
        // Each message: the prefix, and the connection's first packet (SYN) it was logged for.
        let messages = lines.map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
        #expect(messages.map { String($0[0]) } == ["meshcap in capture: ", "meshcap out capture: "], "\(kind.rawValue) \(mode): \(lines)")
        if messages.count == 2 {
            #expect(messages[0].last?.hasPrefix("tcp \(TestNetwork.peerAddress):") == true && messages[0].last?.hasSuffix(" > \(TestNetwork.workloadAddress):8080") == true, "\(lines)")
            #expect(messages[1].last?.hasPrefix("tcp \(TestNetwork.workloadAddress):") == true && messages[1].last?.hasSuffix(" > \(TestNetwork.peerAddress):80") == true, "\(lines)")
        }

        // The log rules are the config's: no drift, and verify's rows count as without them.
        let diff = try meshcapIn(network.workload, ["diff"] + logged)
        #expect(diff.status == 0, "\(diff.stdout)\(diff.stderr)")
        let verify = try VerifyTests.verify(network.workload, logged)
        #expect(verify.status == 0 && verify.others.isEmpty, "\(verify.problems) \(verify.others)")
        // TPROXY's rules count every packet of the connection, nat's its first; the range's
        // rule counts the UDP flow too (it goes on to ISTIO_REDIRECT, which leaves it alone).
        #expect((tproxy ? verify.rows["inbound port 8080 capture"].map { $0 > 1 } : verify.rows["inbound port 8080 capture"] == 1) == true
                && verify.rows["outbound \(TestNetwork.peerAddress)/32 capture"] == 2, "\(verify.rows)")

        // Off by default: the next apply without --log leaves exactly the rules of today.
        let plain = try meshcapIn(network.workload, ["apply"] + Self.config + mode + kind.arguments)
        #expect(plain.status == 0, "\(plain.stderr)")
        let live = try network.workload.exec(kind == .nft ? ["nft", "list", "ruleset"] : ["\(kind.rawValue)-save"])
        #expect(!live.contains("log") && !live.contains("LOG"), "\(live)")
        #expect(try meshcapIn(network.workload, ["diff"] + Self.config + mode + kind.arguments).status == 0)
    }

    /// `--log` alone writes to the kernel log, which a namespace keeps off unless a sysctl the
    /// tests leave alone says otherwise: the log rule's counter shows it took the connection.
    @Test(.needsRoot)
    func kernelLogRulesCountWhatTheyLog() throws {
        let network = try TestNetwork()
        try network.serve(in: network.workload, port: 15001, name: "proxy-outbound")
        let applied = try meshcapIn(network.workload, ["apply"] + Self.config + ["--log=web-1"])
        #expect(applied.status == 0 && applied.stderr.contains("warning: --log writes to the kernel log, which the kernel keeps off in a network namespace"), "\(applied.stderr)")
        for _ in 0..<3 { #expect(try network.connect(from: network.workload, to: TestNetwork.peerAddress, port: 80).hasPrefix("proxy-outbound")) }
        let listed = try network.workload.exec("nft", "list", "chain", "inet", "istio-proxy-nat", "istio-output")
        #expect(listed.contains("ip daddr \(TestNetwork.peerAddress) meta l4proto tcp limit rate 10/second counter packets 3 bytes 180 log prefix \"web-1 out capture: \""), "\(listed)")
    }
}
