import IptablesBackend
import MeshCapture
import NftablesBackend
import Testing

/// Behaviour the Istio corpus does not cover (its README lists the gaps), pinned rule by rule.
@Suite struct PlanTests {
    func rules(_ flags: [String], family: Family = .ipv4) throws -> [String] {
        let config = try ConfigLoader.load(files: [], flags: flags, accounts: AccountDatabase(users: [:], groups: [:])).config
        return IptablesRenderer.render(CapturePlan(config).ruleset(for: .xtables(family))).split(separator: "\n").map(String.init)
    }

    @Test func outboundPortExclusionsComeFirstForTCPAndUDP() throws {
        let output = try rules(["-i", "*", "-o", "25,587"]).filter { $0.hasPrefix("-A ISTIO_OUTPUT") }
        #expect(Array(output.prefix(4)) == [
            "-A ISTIO_OUTPUT -p tcp -m tcp --dport 25 -j RETURN", "-A ISTIO_OUTPUT -p udp -m udp --dport 25 -j RETURN",
            "-A ISTIO_OUTPUT -p tcp -m tcp --dport 587 -j RETURN", "-A ISTIO_OUTPUT -p udp -m udp --dport 587 -j RETURN",
        ])
    }

    @Test func captureAllDNSNeedsNoServers() throws {
        let output = try rules(["--redirect-dns", "--capture-all-dns"])
        #expect(output.contains("-A ISTIO_OUTPUT_DNS -p tcp -m tcp --dport 53 -j REDIRECT --to-ports 15053"))
        #expect(output.contains("-A ISTIO_OUTPUT_DNS -p udp -m udp --dport 53 -j REDIRECT --to-ports 15053"))
        #expect(output.contains("-A ISTIO_INBOUND -p udp -m udp --sport 53 -j CT --zone 1"))
        #expect(output.contains("-A ISTIO_OUTPUT_DNS -p udp -m udp --dport 53 -j CT --zone 2"))
        // Unlike listed servers, capture-all applies to both families.
        #expect(try rules(["--redirect-dns", "--capture-all-dns", "--ipv6"], family: .ipv6).contains("-A ISTIO_OUTPUT -j ISTIO_OUTPUT_DNS"))
    }

    @Test func inboundExclusionsApplyOnlyWithStar() throws {
        let all = try rules(["-b", "*", "-d", "22"])
        #expect(all.contains("-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN"))
        #expect(all.last { $0.hasPrefix("-A ISTIO_INBOUND") } == "-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT")
        #expect(!(try rules(["-b", "8080", "-d", "22"])).contains { $0.contains("--dport 22") })
    }

    @Test func nonDefaultPortsAndMarkReachEveryRule() throws {
        let output = try rules(["-p", "16001", "-z", "16006", "-e", "16008", "-m", "TPROXY", "-t", "0x100", "-b", "*"])
        #expect(output.contains("-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 16001"))
        #expect(output.contains("-A ISTIO_TPROXY ! -d 127.0.0.1/32 -p tcp -j TPROXY --on-port 16006 --on-ip 0.0.0.0 --tproxy-mark 0x100/0xffffffff"))
        #expect(output.contains("-A ISTIO_INBOUND -p tcp -m tcp --dport 16008 -j RETURN"))
        #expect(!output.joined().contains("1500"))
    }

    @Test func aLoopbackIncludeKeepsLoopbackTrafficCapturable() throws {
        let plain = try rules(["-i", "10.96.0.0/12"])
        let withLoopback = try rules(["-i", "10.96.0.0/12,127.0.0.1/32"])
        #expect(plain.contains("-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN"))
        #expect(!withLoopback.contains { $0.contains("-o lo -m owner !") })
        #expect(withLoopback.contains("-A ISTIO_OUTPUT -d 127.0.0.1/32 -j ISTIO_REDIRECT"))
    }

    @Test func ipv6RulesOnlyWithIPv6() throws {
        let config = try ConfigLoader.load(files: [], flags: ["-i", "fd00::/8,10.0.0.0/8"], accounts: AccountDatabase(users: [:], groups: [:])).config
        let nft = NftRenderer.render(CapturePlan(config).ruleset(for: .inet))
        #expect(!nft.contains("ip6 "))
        #expect(nft.contains("ip daddr 10.0.0.0/8 counter jump istio-redirect"))
    }
}
