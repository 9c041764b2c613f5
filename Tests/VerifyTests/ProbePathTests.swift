import MeshCapture
import Testing
@testable import Verify

@Suite struct ProbePathTests {
    static func prefix(_ text: String) -> Prefix { try! Prefix.parse(Substring(text)) }

    @Test func containment() {
        #expect(Self.prefix("10.96.0.0/12").contains(.v4(0x0A6F_FFFF)))   // 10.111.255.255
        #expect(!Self.prefix("10.96.0.0/12").contains(.v4(0x0A70_0000)))  // 10.112.0.0
        #expect(Self.prefix("0.0.0.0/0").contains(.v4(0xFFFF_FFFF)))
        #expect(Self.prefix("::/0").contains(.v6(1)) && !Self.prefix("::/0").contains(.v4(1)))
        #expect(Self.prefix("fd00::1/128").contains(.v6(UInt128(0xfd00) << 112 | 1)))
    }

    /// A probe address lies in its range and outside every exclusion, or there is none.
    @Test func probeAddressesAvoidExclusions() {
        #expect(Self.prefix("10.96.0.0/12").probeAddress(avoiding: [Self.prefix("10.96.0.1/32")]) == .v4(0x0A60_0002))
        #expect(Self.prefix("198.51.100.2/32").probeAddress(avoiding: []) == .v4(0xC633_6402))
        #expect(Self.prefix("10.0.0.0/30").probeAddress(avoiding: [Self.prefix("10.0.0.0/30")]) == nil)
        #expect(Self.prefix("127.0.0.0/8").probeAddress(avoiding: []) == nil, "loopback is never probed")
        for text in ["10.0.0.0/8", "172.16.0.0/31", "fd00::/64", "2001:db8::/127", "0.0.0.0/0"] {
            let range = Self.prefix(text)
            let excluded = [Self.prefix(range.family == .ipv4 ? "10.0.0.1/32" : "fd00::1/128")]
            if let address = range.probeAddress(avoiding: excluded) {
                #expect(range.contains(address) && !excluded.contains { $0.contains(address) }, "\(text) → \(address)")
            }
        }
    }

    @Test func pathsCoverBothFamiliesAndEveryKind() throws {
        var config = InterceptConfig()
        config.outboundRanges = .only([Self.prefix("10.96.0.0/12"), Self.prefix("fd00::/112")])
        config.outboundRangesExclude = [Self.prefix("10.96.0.1/32")]
        config.outboundPortsExclude = [22]
        config.inboundPorts = .only([8080])
        config.ipv6 = true
        let paths = ProbePath.paths(for: config, resolve: { _, _ in nil }, peerGateway: { $0 == .ipv4 ? .v4(1) : .v6(1) })
        #expect(paths.map(\.name) == [
            "outbound to 10.96.0.0/12 is captured", "outbound to excluded 10.96.0.1/32 is not captured",
            "outbound to excluded port 22 is not captured", "the proxy's own outbound (uid 1337) is not captured", "inbound to port 8080 is captured",
            "outbound to fd00::/112 is captured", "outbound to excluded port 22 is not captured (IPv6)",
            "the proxy's own outbound (uid 1337) is not captured (IPv6)", "inbound to port 8080 is captured (IPv6)",
        ])
        #expect(paths[0].target == Endpoint(.v4(0x0A60_0002), 80) && paths[0].captured && paths[0].capturePort == 15001)
        #expect(paths[4].origin == .peer && paths[4].capturePort == 15006)
    }
}
