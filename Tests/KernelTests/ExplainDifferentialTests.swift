import Foundation
import HostOps
import MeshCapture
import Testing
import TestSupport

/// `explain` against the kernel: random configs across the keys, applied with either backend,
/// and random connections across both families, ports, owners and directions. For each, the
/// walk's outcome must be what a real connection does: answered by Envoy's outbound or inbound
/// listener (with the original destination it was sent to), or by the server it was addressed to.
@Suite(.serialized) struct ExplainDifferentialTests {
    static let peerPorts: [MeshCapture.Port] = [53, 80, 443, 8080, 15008]
    static let appPorts: [MeshCapture.Port] = [22, 80, 8080, 9090, 15008]
    static let proxyUIDs: [UInt32] = [1337, 1500]

    /// A config as a KEY=VALUE file: every key drawn, most of them often left out.
    static func config(_ random: inout SeededRandom) -> String {
        /// The key with one of its values, `odds` of the time (what captures is drawn more often,
        /// so that every outcome comes up).
        func maybe(_ key: String, _ values: [String], odds: Double = 0.5) -> String? {
            Double.random(in: 0..<1, using: &random) < odds ? "\(key)=\(values.randomElement(using: &random)!)" : nil
        }
        let peer = TestNetwork.peerAddress, peer6 = TestNetwork.peerAddress6
        let lines: [String?] = [
            maybe("OUTBOUND_IPRANGES_INCLUDE", ["*", "*", "\(peer)/32", "198.51.100.0/30", "10.0.0.0/8", "\(peer6)/128,\(peer)/32", "2001:db8:5::/64", ""], odds: 0.9),
            maybe("OUTBOUND_IPRANGES_EXCLUDE", ["\(peer)/32", "198.51.100.0/24", "\(peer6)/128", "10.0.0.0/8"]),
            maybe("INBOUND_PORTS_INCLUDE", ["*", "*", "8080,9090", "22,80", ""], odds: 0.9),
            maybe("INBOUND_PORTS_EXCLUDE", ["22", "22,9090", "8080"]),
            maybe("OUTBOUND_PORTS_EXCLUDE", ["443", "80,8080"]),
            maybe("OUTBOUND_PORTS_INCLUDE", ["8080", "443"]),
            maybe("PROXY_UID", Self.proxyUIDs.map(String.init)),
            maybe("PROXY_GID", ["1337", "1600"]),
            maybe("OUTBOUND_OWNER_GROUPS_INCLUDE", ["1000", "1000,1200"], odds: 0.25),
            maybe("OUTBOUND_OWNER_GROUPS_EXCLUDE", ["1200"], odds: 0.25),
            maybe("ENABLE_INBOUND_IPV6", ["true", "false"], odds: 0.7),
            maybe("INBOUND_TUNNEL_PORT", ["15008"]),
            maybe("MESHCAP_LIST_LAYOUT", ["istio", "sets"]),
            maybe("INBOUND_INTERCEPTION_MODE", ["TPROXY", "REDIRECT"], odds: 0.6),
            maybe("REDIRECT_DNS", ["true", "false"]),
            maybe("CAPTURE_ALL_DNS", ["true"]),
            maybe("DNS_SERVERS_V4", ["\(peer)", "10.0.0.2"]),
            maybe("DNS_SERVERS_V6", ["\(peer6)"]),
            // veth0 is the workload's only interface; virt0 does not exist (its rules must not match).
            maybe("EXCLUDE_INTERFACES", ["veth0", "virt0"], odds: 0.15),
            maybe("KUBE_VIRT_INTERFACES", ["virt0"]),
            maybe("DROP_INVALID", ["true"]),
            // meshcap's own: inbound from the peer left alone now and then, and log rules, which
            // must change no outcome.
            maybe("INBOUND_IPRANGES_EXCLUDE", ["\(peer)/32", "198.51.100.0/30", "\(peer6)/128", "10.0.0.0/8"], odds: 0.3),
            maybe("MESHCAP_LOG", ["true", "web"], odds: 0.3),
            maybe("MESHCAP_LOG_GROUP", ["3"], odds: 0.15),
        ]
        return lines.compactMap { $0 }.joined(separator: "\n") + "\n"
    }

    static func connection(_ random: inout SeededRandom, ipv6: Bool) -> Connection {
        let six = ipv6 && Bool.random(using: &random)
        if Bool.random(using: &random) {
            let uid = ([0, 1000, 1200] + Self.proxyUIDs).randomElement(using: &random)!
            // Now and then to this host's own address, which leaves through lo (an app calling
            // itself, Envoy calling the app).
            if Int.random(in: 0..<6, using: &random) == 0 {
                return Connection(direction: .outbound, proto: .tcp,
                                  destination: IPAddress(six ? TestNetwork.workloadAddress6 : TestNetwork.workloadAddress)!,
                                  destinationPort: Self.appPorts.randomElement(using: &random)!,
                                  source: IPAddress(six ? TestNetwork.workloadAddress6 : TestNetwork.workloadAddress)!,
                                  uid: uid, gid: uid, interface: "lo")
            }
            // DNS over UDP now and then: to the peer's resolver on 53.
            let udp = Int.random(in: 0..<5, using: &random) == 0
            return Connection(direction: .outbound, proto: udp ? .udp : .tcp,
                              destination: IPAddress(six ? TestNetwork.peerAddress6 : TestNetwork.peerAddress)!,
                              destinationPort: udp ? 53 : Self.peerPorts.randomElement(using: &random)!,
                              source: IPAddress(six ? TestNetwork.workloadAddress6 : TestNetwork.workloadAddress)!,
                              uid: uid, gid: uid, interface: "veth0")
        }
        return Connection(direction: .inbound, proto: .tcp,
                          destination: IPAddress(six ? TestNetwork.workloadAddress6 : TestNetwork.workloadAddress)!,
                          destinationPort: Self.appPorts.randomElement(using: &random)!,
                          source: IPAddress(six ? TestNetwork.peerAddress6 : TestNetwork.peerAddress)!, interface: "veth0")
    }

    /// What explain's outcome says a listener will answer: "proxy-outbound DST", "proxy-inbound
    /// DST", or the addressed server's name.
    /// (UDP answers carry only the server's name.)
    static func expected(_ walk: PacketWalk, _ connection: Connection, _ config: InterceptConfig) -> String {
        let destination = connection.proto == .udp ? "" : " " + ExplainReportEndpoint.text(connection.destination, connection.destinationPort)
        switch walk.outcome {
        case .redirect(config.proxyPort): return "proxy-outbound\(destination)"
        case .redirect(config.inboundCapturePort), .tproxy(config.inboundCapturePort): return "proxy-inbound\(destination)"
        case .redirect(Istio.agentDNSPort): return "agent-dns\(destination)"
        case .redirect(let port): return "redirect to \(port)"
        case .tproxy(let port): return "tproxy to \(port)"
        case .drop: return "failed"
        case .accept:
            if connection.proto == .udp { return "peer-dns" }
            let local = connection.destination.description == TestNetwork.workloadAddress || connection.destination.description == TestNetwork.workloadAddress6
            return connection.direction == .outbound && !local ? "peer\(destination)" : "app\(destination)"
        }
    }

    @Test(.needsRoot) func explainAgreesWithTheKernel() throws {
        var random = SeededRandom.forTest(#function)
        /// Probe servers end themselves after 120 s: a fresh network every 10 rounds (about 50 s).
        func freshNetwork() throws -> TestNetwork {
            let network = try TestNetwork()
            try network.serve(in: network.workload, port: 15001, name: "proxy-outbound")
            // Transparent: TPROXY delivers to it, and a REDIRECT reaches it as any socket.
            try network.serve(in: network.workload, port: 15006, name: "proxy-inbound", .transparent)
            try network.serve(in: network.workload, port: 15053, name: "agent-dns")
            try network.serve(in: network.workload, port: 15053, name: "agent-dns", .udp)
            try network.serve(in: network.peer, port: 53, name: "peer-dns", .udp)
            for port in Self.appPorts { try network.serve(in: network.workload, port: Int(port), name: "app") }
            for port in Self.peerPorts { try network.serve(in: network.peer, port: Int(port), name: "peer") }
            return network
        }
        var network = try freshNetwork()
        let work = try temporaryDirectory("explain")
        defer { try? FileManager.default.removeItem(at: work) }
        let accounts = try AccountDatabase(passwdPath: "/dev/null", groupPath: "/dev/null")

        var agreed = 0, pairs = 0
        // What the draw covered, to say so: outcomes, and UDP connections.
        var covered: [String: Int] = [:]
        var disagreements: [String] = []
        for round in 0..<25 {
            if round > 0 && round % 10 == 0 { network = try freshNetwork() }
            let text = Self.config(&random)
            let file = work.appendingPathComponent("round-\(round).env")
            try text.write(to: file, atomically: true, encoding: .utf8)
            // The same host files as apply is given below.
            let loaded = try ConfigLoader.load(files: [file.path], flags: [], accounts: accounts, resolvConf: "/dev/null")
            let plan = CapturePlan(loaded.config)
            let iptables = Bool.random(using: &random)
            let backend = iptables ? ["--backend", "iptables", "--iptables-variant", "nft"] : ["--backend", "nft"]
            // Each round starts from nothing: meshcap's rules of either backend removed.
            _ = try meshcapIn(network.workload, ["clean"])
            // A random config may capture nothing: it is walked all the same.
            let applied = try meshcapIn(network.workload, ["apply", "--config", file.path, "--allow-no-capture",
                                         "--passwd-file", "/dev/null", "--group-file", "/dev/null", "--resolv-conf", "/dev/null"] + backend)
            try #require(applied.status == 0, "seed \(SeededRandom.seed) round \(round): apply failed: \(applied.stderr)\n\(text)")
            for _ in 0..<20 {
                let connection = Self.connection(&random, ipv6: true)
                let layout: Layout = iptables ? .xtables(connection.family) : .inet
                let ruleset = plan.programmed(layout)
                let walk = PacketWalk(connection, through: ruleset, resolve: accounts.resolver)
                let expected = Self.expected(walk, connection, plan.config)
                let from = connection.direction == .outbound ? network.workload : network.peer
                let answer = try network.connect(from: from, to: connection.destination.description, port: Int(connection.destinationPort),
                                                 uid: connection.uid.map(Int.init), udp: connection.proto == .udp)
                let observed = answer.hasPrefix("failed") ? "failed" : answer
                pairs += 1
                covered[expected.split(separator: " ").first.map(String.init) ?? expected, default: 0] += 1
                if connection.proto == .udp { covered["udp", default: 0] += 1 }
                if case .tproxy = walk.outcome { covered["tproxy", default: 0] += 1 }
                if observed == expected {
                    agreed += 1
                } else {
                    disagreements.append("round \(round) (\(iptables ? "iptables" : "nft")): \(connection) — explain: \(expected), kernel: \(observed)\nconfig:\n\(text)")
                }
            }
        }
        print("explain: \(agreed)/\(pairs) random (config, connection) pairs agree with the kernel (seed \(SeededRandom.seed)); "
              + covered.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        #expect(disagreements.count == 0, "seed \(SeededRandom.seed):\n\(disagreements.prefix(5).joined(separator: "\n\n"))")
        _ = try meshcapIn(network.workload, ["clean"])
    }
}

extension ExplainDifferentialTests {
    /// `--live` reads the rules back and walks them: the same path and outcome as the config's,
    /// with each backend (the iptables one read with iptables-save, the nft one over netlink).
    @Test(.needsRoot, arguments: [["--backend", "nft"], ["--backend", "iptables", "--iptables-variant", "legacy"]])
    func liveRulesWalkAsTheConfigsDo(_ backend: [String]) throws {
        let network = try TestNetwork()
        let config = ["-i", "198.51.100.0/30", "-x", "198.51.100.3/32", "-b", "*", "-d", "22", "--redirect-dns", "--capture-all-dns",
                      "--ipv6", "--passwd-file", "/dev/null", "--resolv-conf", "/dev/null"]
        let applied = try meshcapIn(network.workload, ["apply"] + config + backend)
        try #require(applied.status == 0, "\(applied.stderr)")
        let connections: [[String]] = [
            ["--direction", "outbound", "--dst", "198.51.100.2:80", "--uid", "1000"],
            ["--direction", "outbound", "--dst", "198.51.100.2:80", "--uid", "1337"],
            ["--direction", "outbound", "--dst", "198.51.100.3:80", "--uid", "1000"],
            ["--direction", "outbound", "--dst", "198.51.100.2:53", "--proto", "udp", "--uid", "1000"],
            ["--direction", "inbound", "--dst", "198.51.100.1:8080", "--src", "198.51.100.2", "--iface", "veth0"],
            ["--direction", "inbound", "--dst", "[2001:db8:5::1]:22", "--src", "2001:db8:5::2", "--iface", "veth0"],
        ]
        func parts(_ text: String) throws -> [String] {
            let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            // Chains and positions: a rule read back is printed in the form the kernel lists
            // it in (nft folds `meta l4proto tcp tcp dport 22` into `tcp dport 22`).
            let steps = (json["path"] as? [[String: Any]] ?? []).map { step in
                ["table": step["table"] ?? NSNull(), "chain": step["chain"] ?? NSNull(), "position": step["position"] ?? NSNull(),
                 "matched": step["rule"] is String]
            }
            let path = try JSONSerialization.data(withJSONObject: steps, options: [.sortedKeys])
            let outcome = try JSONSerialization.data(withJSONObject: json["outcome"] ?? [:], options: [.sortedKeys])
            return [String(decoding: path, as: UTF8.self), String(decoding: outcome, as: UTF8.self)]
        }
        for connection in connections {
            let fromConfig = try meshcapIn(network.workload, ["explain", "--json"] + config + backend + connection)
            let live = try meshcapIn(network.workload, ["explain", "--json", "--live"] + config + backend + connection)
            #expect(fromConfig.status == 0 && live.status == 0, "\(fromConfig.stderr)\n\(live.stderr)")
            let (fromRules, fromLive) = (try parts(fromConfig.stdout), try parts(live.stdout))
            #expect(fromLive[0] == fromRules[0], "path: \(backend) \(connection)")
            #expect(fromLive[1] == fromRules[1], "outcome: \(backend) \(connection)")
            #expect(live.stdout.contains("\"source\": \"live rules, "), "\(live.stdout)")
        }
        // Without the config: the one apply recorded, said, with its PROXY_UID; no warning
        // about a fallback UID the live rules do not use.
        let recorded = try meshcapIn(network.workload, ["explain", "--json", "--live"] + backend + connections[1])
        #expect(recorded.status == 0 && recorded.stderr.contains("no config given: using the config of the last apply"), "\(recorded.stderr)")
        #expect(!recorded.stderr.contains("PROXY_UID is 1337"), "\(recorded.stderr)")
        #expect(try parts(recorded.stdout) == parts(meshcapIn(network.workload, ["explain", "--json", "--live"] + config + backend + connections[1]).stdout))
        // Removed from the host, the live walk finds nothing to meet.
        _ = try meshcapIn(network.workload, ["clean"])
        let empty = try meshcapIn(network.workload, ["explain", "--live"] + config + backend + connections[0])
        #expect(empty.stdout.hasSuffix("outcome: untouched: it goes to 198.51.100.2:80 as addressed\n"), "\(empty.stdout)")
        #expect(empty.stderr.contains("note: no capture rules of meshcap's or Istio's in"), "\(empty.stderr)")
    }
}

/// "10.0.0.1:80", "[fd00::1]:80": how the probe servers print an original destination.
enum ExplainReportEndpoint {
    static func text(_ address: IPAddress, _ port: MeshCapture.Port) -> String {
        address.family == .ipv4 ? "\(address):\(port)" : "[\(address)]:\(port)"
    }
}
