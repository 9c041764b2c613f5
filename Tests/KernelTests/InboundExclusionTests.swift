import Foundation
import Testing
import TestSupport

/// INBOUND_IPRANGES_EXCLUDE against the kernel: connections from sources just inside each
/// excluded range reach the app on a captured port, and those from just outside reach the
/// proxy, in both families, with REDIRECT and TPROXY, in nft (rules and sets) and iptables.
/// verify counts them on the range's row; explain says the same of each source.
@Suite struct InboundExclusionTests {
    /// The peer's extra sources, routed from the workload through the peer.
    static let sources4 = "203.0.113.0/24", sources6 = "2001:db8:7::/64"
    static let excluded = ["203.0.113.16/28", "2001:db8:7::10/124"]
    /// Each range's edges, and their neighbours outside it.
    static let inside = ["203.0.113.16", "203.0.113.31", "2001:db8:7::10", "2001:db8:7::1f"]
    static let outside = ["203.0.113.15", "203.0.113.32", "2001:db8:7::f", "2001:db8:7::20"]

    enum Mode: String, CaseIterable, Sendable {
        case nftRules = "nft, a rule per range"
        case nftSets = "nft, sets"
        case iptablesNft = "iptables-nft"
        case nftTproxy = "nft, TPROXY"
        case iptablesLegacyTproxy = "iptables-legacy, TPROXY"
        /// ENABLE_INBOUND_IPV6 off: nft's inet rules capture IPv6 inbound all the same, and the
        /// IPv6 range is excluded all the same.
        case nftWithoutIPv6 = "nft, ENABLE_INBOUND_IPV6 false"

        var arguments: [String] {
            switch self {
            case .nftRules: ["--backend", "nft", "--layout", "istio"]
            case .nftSets: ["--backend", "nft", "--layout", "sets"]
            case .iptablesNft: ["--backend", "iptables", "--iptables-variant", "nft"]
            case .nftTproxy: ["--backend", "nft", "-m", "TPROXY"]
            case .iptablesLegacyTproxy: ["--backend", "iptables", "--iptables-variant", "legacy", "-m", "TPROXY"]
            case .nftWithoutIPv6: ["--backend", "nft"]
            }
        }
        var config: [String] { ["-b", "8080", "--exclude-inbound-ips", InboundExclusionTests.excluded.joined(separator: ",")] + (self == .nftWithoutIPv6 ? [] : ["--ipv6"]) }
        var tproxy: Bool { arguments.contains("TPROXY") }
    }

    @Test(.needsRoot, arguments: Mode.allCases)
    func excludedSourcesReachTheAppOthersTheProxy(_ mode: Mode) throws {
        let network = try TestNetwork()
        for address in Self.inside + Self.outside {
            _ = try network.peer.exec(["ip", "addr", "add", address + (address.contains(":") ? "/128" : "/32"), "dev", "veth0"] + (address.contains(":") ? ["nodad"] : []))
        }
        try network.workload.exec("ip", "route", "add", Self.sources4, "via", TestNetwork.peerAddress)
        try network.workload.exec("ip", "-6", "route", "add", Self.sources6, "via", TestNetwork.peerAddress6)
        try network.serve(in: network.workload, port: 8080, name: "app")
        try network.serve(in: network.workload, port: 15006, name: "proxy-inbound", mode.tproxy ? .transparent : .tcp)
        let applied = try meshcapIn(network.workload, ["apply"] + mode.config + mode.arguments)
        #expect(applied.status == 0, "\(applied.stderr)")

        for (sources, want) in [(Self.inside, "app"), (Self.outside, "proxy-inbound")] {
            for source in sources {
                let to = source.contains(":") ? TestNetwork.workloadAddress6 : TestNetwork.workloadAddress
                let answer = try run("ip", ["netns", "exec", network.peer.name, "python3", TestNetwork.probe, "connect-from", source, to, "8080"])
                #expect(answer.stdout.hasPrefix(want), "\(mode.rawValue): from \(source) reached \(answer.stdout)\(answer.stderr), not \(want)")

                let explained = try run(meshcap, ["explain", "--json", "--direction", "inbound", "--src", source, "--dst", "\(source.contains(":") ? "[\(to)]" : to):8080"]
                                        + mode.config + mode.arguments)
                let outcome = (try JSONSerialization.jsonObject(with: Data(explained.stdout.utf8)) as? [String: Any])?["outcome"] as? [String: Any]
                let verdict = outcome?["verdict"] as? String
                #expect(verdict == (want == "app" ? "accept" : mode.tproxy ? "tproxy" : "redirect"), "\(mode.rawValue): explain from \(source): \(explained.stdout)\(explained.stderr)")
            }
        }

        // A connection's first packet in nat; every packet of it in mangle (TPROXY).
        let verify = try VerifyTests.verify(network.workload)
        for range in Self.excluded {
            let packets = verify.rows["inbound from \(range) exclude"] ?? 0
            #expect(mode.tproxy ? packets >= 2 : packets == 2, "\(mode.rawValue): \(range) counted \(packets): \(verify.rows)")
        }
        #expect(verify.status == 0, "\(verify.problems)")
        let listed = try network.workload.exec(mode.arguments.contains("iptables") ? [mode == .iptablesNft ? "iptables-nft-save" : "iptables-legacy-save"] : ["nft", "list", "ruleset"])
        switch mode {
        case .nftSets: #expect(listed.contains("ip saddr @inbound-exclude-sources-ipv4") && listed.contains("ip6 saddr @inbound-exclude-sources-ipv6"), "\(listed)")
        case .iptablesNft, .iptablesLegacyTproxy: #expect(listed.contains("-A ISTIO_INBOUND -s 203.0.113.16/28 -p tcp -j RETURN"), "\(listed)")
        case .nftRules, .nftTproxy, .nftWithoutIPv6: #expect(listed.contains("ip saddr 203.0.113.16/28") && !listed.contains("@"), "\(listed)")
        }
    }
}
