import Foundation
@testable import HostOps
import Testing
import TestSupport

/// `meshcap verify` against real traffic: connections of known number through rules meshcap
/// applied, with each of nft, iptables-nft and iptables-legacy, both families; the report's rows
/// hold exactly what was sent, in every output format, and reading changes nothing.
@Suite(.serialized) struct VerifyTests {
    static let config = ["-i", "\(TestNetwork.peerAddress)/32,\(TestNetwork.peerAddress6)/128", "-b", "8080", "-o", "9090", "--ipv6"]

    /// One reading, as --json gives it: rows summed over families by (direction, subject, action).
    struct Reading {
        let status: Int32
        let rows: [String: Int]
        let totals: [String: (seen: Int, captured: Int)]
        let problems: [String]
        let others: [(rule: String, packets: Int)]
        let stderr: String

        subscript(_ direction: String, _ subject: String, _ action: String) -> Int { rows["\(direction) \(subject) \(action)"] ?? -1 }
    }

    static func verify(_ ns: Namespace, _ arguments: [String] = []) throws -> Reading {
        let result = try meshcapIn(ns, ["verify", "--json"] + arguments)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(object["schema"] as? String == "meshcap.verify/v1", "\(result.stdout)\(result.stderr)")
        var rows: [String: Int] = [:]
        for row in object["rows"] as? [[String: Any]] ?? [] {
            let key = "\(row["direction"] ?? "") \(row["subject"] ?? "") \(row["action"] ?? "")"
            rows[key, default: 0] += row["packets"] as? Int ?? 0
        }
        var totals: [String: (Int, Int)] = [:]
        for total in object["totals"] as? [[String: Any]] ?? [] {
            totals[total["direction"] as? String ?? ""] = (total["seen"] as? Int ?? -1, total["captured"] as? Int ?? -1)
        }
        let problems = (object["problems"] as? [[String: Any]] ?? []).map { "\($0["kind"] ?? ""): \($0["message"] ?? "")" }
        let others = (object["other_rules"] as? [[String: Any]] ?? []).map { ($0["rule"] as? String ?? "", $0["packets"] as? Int ?? -1) }
        return Reading(status: result.status, rows: rows, totals: totals, problems: problems, others: others, stderr: result.stderr)
    }

    /// Sends the traffic the expectations below count, and checks each connection went where it should.
    static func sendTraffic(_ network: TestNetwork) throws {
        let (workload, peer) = (network.workload, network.peer)
        let (peer4, peer6, workload4) = (TestNetwork.peerAddress, TestNetwork.peerAddress6, TestNetwork.workloadAddress)
        for _ in 0..<5 { #expect(try network.connect(from: workload, to: peer4, port: 8080).hasPrefix("proxy-outbound")) }
        for _ in 0..<3 { #expect(try network.connect(from: workload, to: peer6, port: 8080).hasPrefix("proxy-outbound")) }
        for _ in 0..<2 { #expect(try network.connect(from: workload, to: peer4, port: 9090).hasPrefix("peer")) }
        for _ in 0..<4 { #expect(try network.connect(from: workload, to: peer4, port: 8080, uid: 1337).hasPrefix("peer")) }
        for _ in 0..<6 { #expect(try network.connect(from: peer, to: workload4, port: 8080).hasPrefix("proxy-inbound")) }
    }

    /// apply through another backend than the live one moves the capture there: after each of
    /// nft → iptables-nft → iptables-legacy → nft, real connections are captured once (the
    /// counts are exactly what was sent, on the new backend's rows) and verify finds nothing
    /// captured twice. Before, the second apply warned and exited 0 with two captures.
    @Test(.needsRoot)
    func applyingThroughAnotherBackendMovesTheCapture() throws {
        let network = try TestNetwork()
        let workload = network.workload
        for (ns, port, name) in [(workload, 15001, "proxy-outbound"), (workload, 15006, "proxy-inbound"), (network.peer, 8080, "peer"), (network.peer, 9090, "peer")] {
            try network.serve(in: ns, port: port, name: name)
        }
        for kind in [HostKind.nft, .iptablesNft, .iptablesLegacy, .nft] {
            let applied = try meshcapIn(workload, ["apply"] + Self.config + kind.arguments)
            #expect(applied.status == 0, "\(kind.rawValue): \(applied.stderr)")
            try Self.sendTraffic(network)
            let reading = try Self.verify(workload)
            #expect(reading.status == 0 && reading.problems.isEmpty, "\(kind.rawValue): \(reading.problems)")
            #expect(reading.totals["outbound"]?.captured == 8 && reading.totals["inbound"]?.captured == 6,
                    "\(kind.rawValue): captured \(reading.totals) (8 and 6 sent)")
            // The capture is in exactly one place: the backend just applied.
            let places = [HostKind.nft: try workload.exec("nft", "list", "tables").contains("istio-proxy"),
                          .iptablesNft: try workload.exec("iptables-nft-save").contains(":ISTIO_"),
                          .iptablesLegacy: try workload.exec("iptables-legacy-save").contains(":ISTIO_")]
            #expect(places.filter(\.value).map(\.key) == [kind], "\(kind.rawValue): capture in \(places.filter(\.value).map(\.key.rawValue))")
        }
    }

    @Test(.needsRoot, arguments: HostKind.allCases)
    func countsWhatWasSentOnTheRightRows(_ kind: HostKind) throws {
        let network = try TestNetwork()
        let workload = network.workload
        for (ns, port, name) in [(workload, 15001, "proxy-outbound"), (workload, 15006, "proxy-inbound"), (network.peer, 8080, "peer"), (network.peer, 9090, "peer")] {
            try network.serve(in: ns, port: port, name: name)
        }
        let applied = try meshcapIn(workload, ["apply"] + Self.config + kind.arguments)
        #expect(applied.status == 0, "\(applied.stderr)")
        try Self.sendTraffic(network)

        let before = try HostState(workload, handles: true)
        let reading = try Self.verify(workload)
        #expect(try HostState(workload, handles: true) == before, "verify changed the ruleset")
        #expect(reading.status == 0 && reading.problems.isEmpty, "\(reading.problems) \(reading.stderr)")
        #expect(reading["outbound", "\(TestNetwork.peerAddress)/32", "capture"] == 5)
        #expect(reading["outbound", "\(TestNetwork.peerAddress6)/128", "capture"] == 3)
        #expect(reading["outbound", "port 9090/tcp", "exclude"] == 2)
        #expect(reading["outbound", "uid 1337", "bypass"] == 4)
        #expect(reading["inbound", "port 8080", "capture"] == 6)
        #expect(reading.totals["outbound"]?.captured == 8 && reading.totals["inbound"]?.captured == 6, "\(reading.totals)")
        #expect((reading.totals["outbound"]?.seen ?? 0) >= 14 && (reading.totals["inbound"]?.seen ?? 0) >= 6, "\(reading.totals)")
        // The same numbers against the config, in the table and in Prometheus' format.
        let againstConfig = try Self.verify(workload, Self.config)
        #expect(againstConfig.status == 0 && againstConfig.rows == reading.rows, "\(againstConfig.problems)")
        let table = try meshcapIn(workload, ["verify"])
        #expect(table.stdout.contains("outbound: \(reading.totals["outbound"]?.seen ?? -1) looked at, 8 sent to the proxy"), "\(table.stdout)")
        let prometheus = try meshcapIn(workload, ["verify", "--prometheus", "-"]).stdout
        #expect(prometheus.contains(#"action="capture",cidr="\#(TestNetwork.peerAddress)/32",direction="outbound",family="ipv4"} 5"#), "\(prometheus)")
        #expect(prometheus.contains(#"meshcap_captured_packets_total{direction="inbound"} 6"#))
        #expect(prometheus.contains("meshcap_capture_healthy 1"))
        print("verify (\(kind.rawValue)):\n\(table.stdout)")

        // A changed config keeps the counts of the rules it keeps; a new rule starts at zero.
        let changed = try meshcapIn(workload, ["apply"] + Self.config + ["-x", "203.0.113.0/24"] + kind.arguments)
        #expect(changed.status == 0 && !changed.stderr.contains("no change"), "\(changed.stderr)")
        let after = try Self.verify(workload)
        #expect(after["outbound", "\(TestNetwork.peerAddress)/32", "capture"] == 5 && after["inbound", "port 8080", "capture"] == 6, "\(after.rows)")
        #expect(after["outbound", "203.0.113.0/24", "exclude"] == 0)
        #expect(after.totals["outbound"]?.captured == 8)

        // --reset zeroes meshcap's counters and no one else's: a bystander nft table, and (with
        // iptables) a counting rule at the head of nat OUTPUT, ahead of meshcap's numbered rules.
        try workload.exec("nft", "add", "table", "inet", "bystander")
        try workload.exec("nft", "add", "chain", "inet", "bystander", "out", "{ type filter hook output priority 0; }")
        // TCP only: the kernel's own IPv6 router and neighbour solicitations leave at moments of
        // their own, and one landing during the reset read as the reset touching the counter.
        try workload.exec("nft", "add", "rule", "inet", "bystander", "out", "meta", "l4proto", "tcp", "counter")
        let iptables = kind == .iptablesLegacy ? "iptables-legacy" : "iptables-nft"
        if kind != .nft { try workload.exec(iptables, "-t", "nat", "-I", "OUTPUT", "1", "-p", "tcp") }
        _ = try network.connect(from: workload, to: TestNetwork.peerAddress, port: 9090)
        // The connection's last packets (the ACK of the server's FIN) may still be on their way
        // out: read until the bystander's counter holds still, so a change later is the reset's.
        var bystander = try workload.exec("nft", "list", "table", "inet", "bystander")
        for _ in 0..<20 {
            usleep(100_000)
            let again = try workload.exec("nft", "list", "table", "inet", "bystander")
            if again == bystander { break }
            bystander = again
        }
        let counting = kind == .nft ? "" : try workload.exec("\(iptables)-save", "-c", "-t", "nat").split(separator: "\n").filter { $0.hasSuffix("-A OUTPUT -p tcp") }.joined()
        let reset = try meshcapIn(workload, ["verify", "--reset"])
        #expect(reset.status == 0 && reset.stderr.contains("counters of"), "\(reset.stderr)")
        let zeroed = try Self.verify(workload)
        #expect(zeroed.rows.values.allSatisfy { $0 == 0 } && zeroed.totals.values.allSatisfy { $0 == (0, 0) }, "\(zeroed.rows) \(zeroed.totals)")
        let untouched = try workload.exec("nft", "list", "table", "inet", "bystander")
        #expect(untouched == bystander, "the bystander's counter changed: before \(bystander), after \(untouched)")
        #expect(!bystander.contains("packets 0 "), "\(bystander)")
        if kind != .nft {
            #expect(counting.hasPrefix("[1:") && !counting.hasPrefix("[0:"), "\(counting)")
            #expect(try workload.exec("\(iptables)-save", "-c", "-t", "nat").contains(counting), "the foreign rule's counter was zeroed")
        }
    }

    /// Each way capture breaks is named, with exit 1.
    @Test(.needsRoot)
    func brokenCaptureIsNamed() throws {
        let network = try TestNetwork()
        let workload = network.workload
        try network.serve(in: network.peer, port: 8080, name: "peer")
        let iptables = HostKind.iptablesNft.arguments

        let empty = try Self.verify(workload)
        #expect(empty.status == 1 && empty.problems.contains { $0.hasPrefix("no-rules:") }, "\(empty.problems)")

        // Nothing redirected: the service range misses the peer, yet connections leave.
        #expect(try meshcapIn(workload, ["apply", "-i", "203.0.113.0/24"] + iptables).status == 0)
        for _ in 0..<2 { #expect(try network.connect(from: workload, to: TestNetwork.peerAddress, port: 8080).hasPrefix("peer")) }
        let missed = try Self.verify(workload)
        #expect(missed.status == 1 && missed.problems.contains { $0.hasPrefix("nothing-redirected: 2 connections") }, "\(missed.problems)")

        // Drift: verified against another config.
        let drift = try Self.verify(workload, ["-i", "198.18.0.0/15"] + iptables)
        #expect(drift.problems.contains { $0.hasPrefix("drift: the rules in iptables-") && $0.contains("are not the config's: 1 of its rules is missing there, 1 rule there is not its own") }, "\(drift.problems)")

        // Another program's rule ahead of meshcap's takes the traffic.
        try workload.exec("iptables-nft", "-t", "nat", "-I", "OUTPUT", "1", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT")
        _ = try network.connect(from: workload, to: TestNetwork.peerAddress, port: 8080)
        let ahead = try Self.verify(workload)
        #expect(ahead.problems.contains { $0.hasPrefix("other-rules-ahead:") && $0.hasSuffix("has taken 1 packets") }, "\(ahead.problems)")
        #expect(ahead.others.contains { $0.rule.contains("--dport 8080 -j ACCEPT") && $0.packets == 1 })
        try workload.exec("iptables-nft", "-t", "nat", "-D", "OUTPUT", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT")

        // The jump into ISTIO_OUTPUT gone.
        try workload.exec("iptables-nft", "-t", "nat", "-D", "OUTPUT", "-m", "comment", "--comment", "meshcap", "-j", "ISTIO_OUTPUT")
        let unhooked = try Self.verify(workload)
        #expect(unhooked.problems.contains { $0.hasPrefix("missing-entry: the jump from OUTPUT into ISTIO_OUTPUT is missing") }, "\(unhooked.problems)")

        // Rules in two backends.
        #expect(try meshcapIn(workload, ["apply", "-i", "203.0.113.0/24"]).status == 0)
        let twice = try Self.verify(workload, ["--backend", "nft"])
        #expect(twice.problems.contains { $0.hasPrefix("captured-twice: iptables-nft holds ISTIO chains") }, "\(twice.problems)")
    }

    /// --watch reads again with rates; option mistakes are exit 2 before anything is read.
    @Test(.needsRoot)
    func watchReadsAgainAndMistakesAreBadInput() throws {
        let ns = try Namespace("watch")
        #expect(try meshcapIn(ns, ["apply", "-i", "10.96.0.0/12", "-b", "8080"]).status == 0)
        let watched = try meshcapIn(ns, ["verify", "--watch", "0.2", "--count", "2"])
        #expect(watched.status == 0, "\(watched.stderr)")
        #expect(watched.stdout.contains("every 0.2 s, reading 1 (rates from the next one)\n") && watched.stdout.contains("every 0.2 s, reading 2\n"), "\(watched.stdout)")
        #expect(watched.stdout.split(separator: "\n").filter { $0.hasPrefix("direction") }.map { $0.hasSuffix("packets/s") } == [false, true])
        for (arguments, message) in [(["--count", "2"], "--count needs --watch"), (["--watch", "0"], "--watch 0.0: allowed: seconds from 0.1 to 86400"),
                                     (["--probe"], "--probe needs the config"), (["--json", "--prometheus", "-"], "choose one output")] {
            let result = try meshcapIn(ns, ["verify"] + arguments)
            #expect(result.status == 2 && result.stderr.contains(message) && result.stdout.isEmpty, "\(arguments): \(result.stderr)")
        }
    }

    /// Kernels before 6.2 cannot zero a rule's counter in place; meshcap rebuilds its tables from
    /// what they hold. The rebuild is tried here directly: same rules, counters from zero.
    @Test(.needsRoot)
    func rebuildingZeroesCountersAndKeepsTheRules() throws {
        let network = try TestNetwork()
        try network.serve(in: network.workload, port: 15001, name: "proxy-outbound")
        #expect(try meshcapIn(network.workload, ["apply"] + Self.config).status == 0)
        for _ in 0..<3 { _ = try network.connect(from: network.workload, to: TestNetwork.peerAddress, port: 8080) }
        let before = try network.workload.exec("nft", "list", "ruleset")
        #expect(before.contains("counter packets 3 "), "\(before)")
        try network.workload.inside {
            let host = NftHost()
            let rebuilt = try host.dialect.rebuilding(try host.read())
            try NftApply.apply(rebuilt.batch, generation: rebuilt.generation)
        }
        let after = try network.workload.exec("nft", "list", "ruleset")
        #expect(!after.contains("counter packets 3 ") && after.contains("counter packets 0 "))
        #expect(HostState.withoutCounters(after) == HostState.withoutCounters(before))
    }
}
