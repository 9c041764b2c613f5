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
        listener.waitUntilExit()
        let messages = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
        print("nflog group 7 (\(kind.rawValue)\(tproxy ? ", TPROXY" : "")): \(messages)")
        #expect(messages == ["meshcap in capture: ", "meshcap out capture: "], "\(kind.rawValue) \(mode): \(messages)")

        // The log rules are the config's: no drift, and verify's rows count as without them.
        let diff = try meshcapIn(network.workload, ["diff"] + logged)
        #expect(diff.status == 0, "\(diff.stdout)\(diff.stderr)")
        let verify = try VerifyTests.verify(network.workload, logged)
        #expect(verify.status == 0 && verify.others.isEmpty, "\(verify.problems) \(verify.others)")
        // TPROXY's rules count every packet of the connection, nat's its first.
        #expect((tproxy ? verify.rows["inbound port 8080 capture"].map { $0 > 1 } : verify.rows["inbound port 8080 capture"] == 1) == true
                && verify.rows["outbound \(TestNetwork.peerAddress)/32 capture"] == 1, "\(verify.rows)")

        // Off by default: the next apply without --log leaves exactly the rules of today.
        let plain = try meshcapIn(network.workload, ["apply"] + Self.config + mode + kind.arguments)
        #expect(plain.status == 0, "\(plain.stderr)")
        let live = try network.workload.exec(kind == .nft ? ["nft", "list", "ruleset"] : ["\(kind.rawValue)-save"])
        #expect(!live.contains("log") && !live.contains("LOG"), "\(live)")
        #expect(try meshcapIn(network.workload, ["diff"] + Self.config + mode + kind.arguments).status == 0)
    }
}
