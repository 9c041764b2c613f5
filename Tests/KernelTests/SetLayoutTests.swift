import Foundation
import MeshCapture
import Testing
import TestSupport

/// CIDR lists as interval sets (`--layout sets`) send every connection where Istio's
/// rule-per-prefix layout does: real connections to the first and last address of every listed
/// prefix and to the addresses just outside it, both families, both layouts, each checked against
/// where the config says it goes; and `verify` counts them per set element.
@Suite(.serialized) struct SetLayoutTests {
    /// The peer answers on every address of these ranges (a local route: AnyIP), and the workload
    /// routes them to it; the included ranges are inside them.
    static let answered = ["198.18.0.0/15", "2001:db8:ff::/48"]
    static let included = ["198.18.0.0/16", "2001:db8:ff::/49"]
    /// Exclusions inside and at the edge of the included ranges: halves a set joins (198.18.0.0/24
    /// with the two halves of 198.18.1.0/24 are 198.18.0.0/23), touching prefixes that stay two
    /// elements (…5.0/24 and …6.0/24; :5::/64 and :6::/64: one's end is the other's start), a
    /// host, a prefix inside another, a duplicate, the last /24 inside the included range and the
    /// first /23 past it.
    static let excluded = ["198.18.0.0/24", "198.18.1.0/25", "198.18.1.128/25", "198.18.3.7/32", "198.18.5.0/24", "198.18.6.0/24",
                           "198.18.8.0/21", "198.18.9.0/24", "198.18.8.0/21", "198.18.254.0/24", "198.19.0.0/23",
                           "2001:db8:ff::/64", "2001:db8:ff:0:1::/80", "2001:db8:ff:1::/64", "2001:db8:ff:2::1/128",
                           "2001:db8:ff:5::/64", "2001:db8:ff:6::/64", "2001:db8:ff:7fff::/64"]

    static var config: [String] {
        ["-i", included.joined(separator: ","), "-x", excluded.joined(separator: ","), "--ipv6", "--backend", "nft"]
    }

    static func prefix(_ text: String) -> Prefix {
        guard let prefix = try? Prefix.parse(Substring(text)) else { preconditionFailure("test prefix \(text)") }
        return prefix
    }

    static func step(_ address: IPAddress, _ by: Int) -> IPAddress {
        switch address {
        case .v4(let value): .v4(by < 0 ? value - 1 : value + 1)
        case .v6(let value): .v6(by < 0 ? value - 1 : value + 1)
        }
    }

    /// Every listed prefix's first and last address and the ones just outside, where the peer answers.
    static var probes: [IPAddress] {
        let ranges = answered.map(prefix)
        let edges = (included + excluded).map(prefix).flatMap { [step($0.address, -1), $0.address, $0.last, step($0.last, 1)] }
        return Array(Set(edges.filter { address in ranges.contains { $0.contains(address) } })).sorted()
    }

    /// Where the config sends a connection: exclusions are checked first, then the included ranges.
    static func expected(_ address: IPAddress) -> String {
        if excluded.map(prefix).contains(where: { $0.contains(address) }) { return "peer" }
        return included.map(prefix).contains { $0.contains(address) } ? "proxy-outbound" : "peer"
    }

    func network() throws -> TestNetwork {
        let network = try TestNetwork()
        for (range, gateway) in zip(Self.answered, [TestNetwork.peerAddress, TestNetwork.peerAddress6]) {
            try network.peer.exec("ip", "route", "add", "local", range, "dev", "lo")
            try network.workload.exec("ip", "route", "add", range, "via", gateway)
        }
        try network.serve(in: network.workload, port: 15001, name: "proxy-outbound")
        try network.serve(in: network.peer, port: 80, name: "peer")
        return network
    }

    /// Which server answered each probe, in `probes` order.
    func connectEach(_ network: TestNetwork) throws -> [String] {
        let result = try run("ip", ["netns", "exec", network.workload.name, "python3", TestNetwork.probe, "connect-each", "80"]
                             + Self.probes.map(\.description))
        return result.stdout.split(separator: "\n").map { String($0.split(separator: " ").first ?? "") }
    }

    @Test(.needsRoot)
    func bothLayoutsSendEveryProbeWhereTheConfigSaysAndVerifyCountsPerElement() throws {
        let network = try network()
        let probes = Self.probes
        #expect(probes.count > 30)
        let wanted = probes.map(Self.expected)
        for layout in ["istio", "sets"] {
            let applied = try meshcapIn(network.workload, ["apply", "--layout", layout] + Self.config)
            #expect(applied.status == 0, "\(applied.stderr)")
            let landed = try connectEach(network)
            #expect(landed.count == probes.count)
            for (address, (got, want)) in zip(probes, zip(landed, wanted)) where got != want {
                Issue.record("--layout \(layout): a connection to \(address) reached \(got), not \(want)")
            }
        }

        // The sets layout in place: one rule per list and family, and a row per set element
        // holding exactly the connections sent into it.
        let listed = try network.workload.exec("nft", "list", "table", "inet", "istio-proxy-nat")
        #expect(listed.contains("ip daddr @outbound-exclude-ipv4") && listed.contains("ip6 daddr @outbound-include-ipv6"))
        #expect(!listed.contains("198.18.9.0/24"), "a prefix inside another is not an element of its own")
        let verify = try VerifyTests.verify(network.workload)
        #expect(verify.status == 0, "\(verify.problems)")
        let elements = Aggregation(Self.excluded.map(Self.prefix)).prefixes
        #expect(elements.contains(Self.prefix("198.18.0.0/23")), "three prefixes that make one CIDR are one element")
        #expect(["198.18.5.0/24", "198.18.6.0/24", "2001:db8:ff:5::/64", "2001:db8:ff:6::/64"].allSatisfy { elements.contains(Self.prefix($0)) },
                "touching prefixes that make no CIDR stay two elements")
        for element in elements {
            let sent = zip(probes, wanted).filter { element.contains($0.0) }.count
            #expect(verify["outbound", element.description, "exclude"] == sent, "\(element): \(sent) connections sent")
        }
        for range in Self.included.map(Self.prefix) {
            let captured = zip(probes, wanted).filter { range.contains($0.0) && $0.1 == "proxy-outbound" }.count
            #expect(verify["outbound", range.description, "capture"] == captured, "\(range): \(captured) connections captured")
        }

        // A changed config (another inbound port, another excluded prefix) rebuilds the nat table;
        // the sets' elements keep their numbers, and so does the rule that looks the set up.
        let lookupCounter = {
            try network.workload.exec("nft", "list", "chain", "inet", "istio-proxy-nat", "istio-output").split(separator: "\n")
                .first { $0.contains("@outbound-exclude-ipv4") }.map(String.init) ?? "none"
        }
        let lookupBefore = try lookupCounter()
        #expect(!lookupBefore.contains("packets 0 "), "\(lookupBefore)")
        let changed = try meshcapIn(network.workload, ["apply", "--layout", "sets", "-b", "8080"] + Self.config.map { $0.hasPrefix("198.18.0.0/24,") ? "198.18.100.0/24," + $0 : $0 })
        #expect(changed.status == 0 && changed.stderr.contains("istio-proxy-nat:"), "\(changed.stderr)")
        #expect(try lookupCounter() == lookupBefore)
        let after = try VerifyTests.verify(network.workload)
        for element in elements {
            #expect(after["outbound", element.description, "exclude"] == verify["outbound", element.description, "exclude"], "\(element) after a re-apply")
        }

        // A saved `nft list ruleset` and `nft -j list ruleset` give the same rows.
        for arguments in [["list", "ruleset"], ["-j", "list", "ruleset"]] {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("meshcap-sets-\(getpid())-\(arguments.count).txt").path
            try network.workload.exec(["nft"] + arguments).write(toFile: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let saved = try VerifyTests.verify(network.workload, ["--from", path])
            #expect(saved.rows == after.rows, "nft \(arguments.joined(separator: " ")): \(saved.rows) against live \(after.rows)")
        }

        // --reset zeroes the elements' counters with the rules'.
        #expect(try meshcapIn(network.workload, ["verify", "--reset"]).status == 0)
        let reset = try VerifyTests.verify(network.workload)
        #expect(elements.allSatisfy { reset["outbound", $0.description, "exclude"] == 0 }, "\(reset.rows)")
    }

    /// A set longer than `NamedSet.elementCounterLimit` has no element counters (the kernel's
    /// per-element counters were half its work on a fresh set of 10,000 prefixes): the set's rule
    /// counts it whole, one row, live and from a saved ruleset alike.
    @Test(.needsRoot)
    func aSetTooLongForElementCountersCountsAsOneRow() throws {
        let network = try network()
        // 300 hosts excluded: the odd addresses of 198.18.0.0/24, then even ones from 198.18.1.0; two are probed.
        let excluded = (0..<300).map { "198.18.\($0 * 2 / 256).\($0 * 2 % 256 + ($0 * 2 / 256 == 0 ? 1 : 0))/32" }
        let hit = ["198.18.0.1", "198.18.1.0"], missed = ["198.18.200.1", "198.18.200.2", "198.18.200.3"]
        #expect(excluded.contains("198.18.0.1/32") && excluded.contains("198.18.1.0/32"))
        let applied = try meshcapIn(network.workload, ["apply", "--layout", "sets", "-i", "198.18.0.0/16", "-x", excluded.joined(separator: ","), "--backend", "nft"])
        #expect(applied.status == 0, "\(applied.stderr)")
        let set = try network.workload.exec("nft", "list", "set", "inet", "istio-proxy-nat", "outbound-exclude-ipv4")
        #expect(!set.contains("counter"), "\(set.prefix(300))")
        let result = try run("ip", ["netns", "exec", network.workload.name, "python3", TestNetwork.probe, "connect-each", "80"] + hit + missed)
        #expect(result.stdout.split(separator: "\n").map { String($0.split(separator: " ").first ?? "") } == ["peer", "peer", "proxy-outbound", "proxy-outbound", "proxy-outbound"])
        let verify = try VerifyTests.verify(network.workload)
        #expect(verify.status == 0, "\(verify.problems)")
        #expect(verify["outbound", "listed ranges, one counter", "exclude"] == hit.count, "\(verify.rows)")
        #expect(verify["outbound", "198.18.0.0/16", "capture"] == missed.count, "\(verify.rows)")
        #expect(verify["outbound", "198.18.0.1/32", "exclude"] == -1, "no row per element")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("meshcap-longset-\(getpid()).txt").path
        try network.workload.exec("nft", "list", "ruleset").write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try VerifyTests.verify(network.workload, ["--from", path]).rows == verify.rows)
    }

    /// 20 inbound ports captured and 20 outbound ports excluded, every other port of a range
    /// (so that each listed port has unlisted neighbours).
    static let inboundPorts = (0..<20).map { 8000 + 2 * $0 }
    static let excludedPorts = (0..<20).map { 9000 + 2 * $0 }
    static var portConfig: [String] {
        ["-i", "\(TestNetwork.peerAddress)/32,\(TestNetwork.peerAddress6)/128", "--ipv6",
         "-b", inboundPorts.map(String.init).joined(separator: ","), "-o", excludedPorts.map(String.init).joined(separator: ",")]
    }

    enum PortLayout: String, CaseIterable {
        case istio, sets, multiport
        /// Inbound with TPROXY: two rules look up the inbound set (established and new).
        case tproxySets
        var arguments: [String] {
            switch self {
            case .istio: ["--backend", "nft", "--layout", "istio"]
            case .sets: ["--backend", "nft"]
            case .multiport: ["--backend", "iptables", "--iptables-variant", "nft"]
            case .tproxySets: ["--backend", "nft", "-m", "TPROXY"]
            }
        }
    }

    /// Every listed port and its unlisted neighbours, inbound from the peer and outbound to it, in
    /// both families: captured ports reach the proxy's listeners, others do not; with sets,
    /// verify counts each port's connections on its row.
    @Test(.needsRoot, arguments: PortLayout.allCases)
    func portListsSendEveryPortWhereTheConfigSays(_ layout: PortLayout) throws {
        let network = try TestNetwork()
        try network.serve(in: network.workload, port: 15001, name: "proxy-outbound")
        try network.serve(in: network.workload, port: 15006, name: "proxy-inbound", layout == .tproxySets ? .transparent : .tcp)
        try network.serve(in: network.peer, port: 80, name: "peer")
        // The peer answers on every port: its own nft sends them all to the listener on 80.
        try network.peer.exec("nft", "-f", "-", input: "table inet peer {\n chain p {\n type nat hook prerouting priority -100;\n tcp dport != 80 redirect to :80\n }\n}\n")
        let applied = try meshcapIn(network.workload, ["apply"] + Self.portConfig + layout.arguments)
        #expect(applied.status == 0, "\(applied.stderr)")
        let inbound = (7999...8040).map { $0 }, outbound = (8999...9040).map { $0 }
        for (from, to) in [(network.peer, TestNetwork.workloadAddress), (network.peer, TestNetwork.workloadAddress6)] {
            let landed = try run("ip", ["netns", "exec", from.name, "python3", TestNetwork.probe, "connect-each-port", to] + inbound.map(String.init))
            for (port, answer) in zip(inbound, landed.stdout.split(separator: "\n")) {
                let want = Self.inboundPorts.contains(port) ? "proxy-inbound" : "failed"
                #expect(answer.hasPrefix(want), "\(layout): inbound to \(to) port \(port) reached \(answer), not \(want)")
            }
        }
        for to in [TestNetwork.peerAddress, TestNetwork.peerAddress6] {
            let landed = try run("ip", ["netns", "exec", network.workload.name, "python3", TestNetwork.probe, "connect-each-port", to] + outbound.map(String.init))
            for (port, answer) in zip(outbound, landed.stdout.split(separator: "\n")) {
                let want = Self.excludedPorts.contains(port) ? "peer" : "proxy-outbound"
                #expect(answer.hasPrefix(want), "\(layout): outbound to \(to) port \(port) reached \(answer), not \(want)")
            }
        }
        let listed = try network.workload.exec(layout == .multiport ? ["iptables-nft-save"] : ["nft", "list", "ruleset"])
        switch layout {
        case .istio: #expect(!listed.contains("@"))
        case .sets, .tproxySets: #expect(listed.contains("tcp dport @inbound-include-ports") && listed.contains("udp dport @outbound-exclude-ports-udp"))
        case .multiport: #expect(listed.contains("-m multiport --dports 8000,8002,"))
        }
        // Two connections per port, one per family; each is one packet in nat. A multiport rule
        // has one counter for its up to 15 ports: one row for them.
        let verify = try VerifyTests.verify(network.workload)
        #expect(verify.status == 0, "\(verify.problems)")
        if layout == .multiport {
            for (ports, direction, suffix, action) in [(Self.inboundPorts, "inbound", "", "capture"), (Self.excludedPorts, "outbound", "/tcp", "exclude")] {
                for chunk in [Array(ports.prefix(15)), Array(ports.dropFirst(15))] {
                    let subject = chunk.count == 1 ? "port \(chunk[0])" : "ports " + chunk.map(String.init).joined(separator: ",")
                    #expect(verify[direction, subject + suffix, action] == 2 * chunk.count, "\(direction) \(subject)\(suffix)")
                }
            }
        } else {
            // mangle counts every packet of a connection, nat only its first.
            for port in Self.inboundPorts {
                let packets = verify["inbound", "port \(port)", "capture"]
                #expect(layout == .tproxySets ? packets >= 6 : packets == 2, "inbound port \(port): \(packets)")
            }
            for port in Self.excludedPorts { #expect(verify["outbound", "port \(port)/tcp", "exclude"] == 2, "outbound port \(port)") }
            // A saved `nft list ruleset` and `nft -j list ruleset` give the same rows.
            for arguments in [["list", "ruleset"], ["-j", "list", "ruleset"]] {
                let path = FileManager.default.temporaryDirectory.appendingPathComponent("meshcap-ports-\(getpid())-\(arguments.count).txt").path
                try network.workload.exec(["nft"] + arguments).write(toFile: path, atomically: true, encoding: .utf8)
                defer { try? FileManager.default.removeItem(atPath: path) }
                #expect(try VerifyTests.verify(network.workload, ["--from", path]).rows == verify.rows, "\(layout): nft \(arguments.joined(separator: " "))")
            }
        }
        if layout == .tproxySets {
            // Each packet is one lookup by one of the two rules: the elements add up to the rules.
            let chain = try network.workload.exec("nft", "list", "chain", "inet", "istio-proxy-mangle", "istio-inbound")
            let ruleCounts = chain.split(separator: "\n").filter { $0.contains("@inbound-include-ports counter packets") }.map { line in
                Int(line.split(separator: " ").drop { $0 != "packets" }.dropFirst().first ?? "") ?? 0
            }
            #expect(ruleCounts.count == 2)
            #expect(Self.inboundPorts.reduce(0) { $0 + verify["inbound", "port \($1)", "capture"] } == ruleCounts.reduce(0, +))
        }

        // Without the hook's jump into ISTIO_INBOUND no inbound port is captured, whether the
        // ports are rules, a set or multiport groups: verify says so.
        if layout == .multiport {
            for tool in ["iptables-nft", "ip6tables-nft"] { try network.workload.exec(tool, "-t", "nat", "-F", "PREROUTING") }
        } else {
            try network.workload.exec("nft", "flush", "chain", "inet", layout == .tproxySets ? "istio-proxy-mangle" : "istio-proxy-nat", "prerouting")
        }
        let unhooked = try VerifyTests.verify(network.workload)
        #expect(unhooked.problems.contains { $0.hasPrefix("missing-entry: the jump from PREROUTING into ISTIO_INBOUND") }, "\(layout): \(unhooked.problems)")
    }

    /// A KubeVirt guest behind the workload: its connections to the included ranges reach the
    /// proxy, others go through to the peer, under Istio's layout and with the guests' own set;
    /// the set's elements count the guest's connections, apart from the host's set.
    @Test(.needsRoot, arguments: ["istio", "sets"])
    func kubeVirtGuestsAreCapturedThroughTheirOwnSet(_ layout: String) throws {
        let network = try network()
        let guest = try Namespace("g")
        try guest.exec("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "k6t-eth0", "netns", network.workload.name)
        try guest.exec("ip", "addr", "add", "192.0.2.2/24", "dev", "eth0")
        try guest.exec("ip", "link", "set", "eth0", "up")
        try guest.exec("ip", "route", "add", "default", "via", "192.0.2.1")
        try network.workload.exec("ip", "addr", "add", "192.0.2.1/24", "dev", "k6t-eth0")
        try network.workload.exec("ip", "link", "set", "k6t-eth0", "up")
        // The workload routes the guest's traffic (its own namespace's setting, not the host's);
        // the peer answers the guest by way of the workload.
        try network.workload.exec("sysctl", "-qw", "net.ipv4.ip_forward=1")
        try network.peer.exec("ip", "route", "add", "192.0.2.0/24", "via", TestNetwork.workloadAddress)
        let applied = try meshcapIn(network.workload, ["apply", "--backend", "nft", "--layout", layout, "-i", "198.18.0.0/16", "-k", "k6t-eth0"])
        #expect(applied.status == 0, "\(applied.stderr)")
        let targets = ["198.18.0.1", "198.18.255.254", "198.19.0.1", "198.17.255.254"].filter { address in
            Self.answered.map(Self.prefix).contains { $0.contains(IPAddress(address) ?? .v4(0)) }
        }
        let landed = try run("ip", ["netns", "exec", guest.name, "python3", TestNetwork.probe, "connect-each", "80"] + targets).stdout.split(separator: "\n")
        #expect(landed.map { String($0.split(separator: " ").first ?? "") } == ["proxy-outbound", "proxy-outbound", "peer"], "\(landed)")
        let listed = try network.workload.exec("nft", "list", "chain", "inet", "istio-proxy-nat", "prerouting")
        #expect(listed.contains("@kubevirt-include-ipv4") == (layout == "sets"), "\(listed)")
        if layout == "sets" {
            let elements = try network.workload.exec("nft", "list", "set", "inet", "istio-proxy-nat", "kubevirt-include-ipv4")
            #expect(elements.contains("198.18.0.0/16 counter packets 2 "), "\(elements)")
        }
    }

    @Test(.needsRoot)
    func setsSentOverNetlinkAreWhatNftMakesOfTheText() throws {
        let viaNetlink = try Namespace("set-nl"), viaNft = try Namespace("set-nft")
        // Prefix sets of both families and port sets of both protocols.
        let config = Self.config + ["-b", Self.inboundPorts.map(String.init).joined(separator: ","), "-o", "9000,9001"]
        #expect(try meshcapIn(viaNetlink, ["apply", "--layout", "sets"] + config).status == 0)
        let compiled = try meshcapIn(viaNft, ["compile", "--layout", "sets"] + config)
        try viaNft.exec("nft", "-f", "-", input: compiled.stdout)
        // (Handles aside: apply replaces only the tables that change, the script all three.)
        #expect(try viaNetlink.exec("nft", "list", "ruleset") == viaNft.exec("nft", "list", "ruleset"))
        // The bytecode and the elements as the kernel holds them.
        let bytecode = { (ns: Namespace) in NetlinkTests.elementsInOrder(try ns.exec("nft", "--debug=netlink", "list", "ruleset")) }
        #expect(try bytecode(viaNetlink) == bytecode(viaNft))
        // Re-applying changes nothing: the same sets, elements and handles.
        let before = try viaNetlink.exec("nft", "-a", "list", "ruleset")
        #expect(try meshcapIn(viaNetlink, ["apply", "--layout", "sets"] + config).stderr.contains("no change"))
        #expect(try viaNetlink.exec("nft", "-a", "list", "ruleset") == before)
    }
}
