import Testing
@testable import MeshCapture

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
        #expect(paths.allSatisfy { $0.proto == .tcp }, "without DNS capture every path is TCP")
    }

    static func dnsConfig(_ change: (inout InterceptConfig) -> Void) -> InterceptConfig {
        var config = InterceptConfig()
        config.redirectDNS = true
        change(&config)
        return config
    }

    static func paths(_ config: InterceptConfig, limit: Int = 4) -> [ProbePath] {
        ProbePath.paths(for: config, resolve: { _, _ in nil }, peerGateway: { $0 == .ipv4 ? .v4(1) : .v6(1) }, limit: limit)
    }

    /// Each server over UDP and TCP: from this host to the agent's port, and the proxy's own not
    /// captured; IPv6 servers only with IPv6 on.
    @Test func dnsCaptureIsProbedPerServerOverUDPAndTCP() throws {
        let config = Self.dnsConfig {
            $0.dnsServersV4 = [.v4(0x0A00_0002)]
            $0.dnsServersV6 = [.v6(UInt128(0xfd00) << 112 | 0x53)]
        }
        let paths = Self.paths(config)
        #expect(paths.map(\.name) == [
            "DNS to 10.0.0.2 over UDP is sent to the agent (15053)", "DNS to 10.0.0.2 over TCP is sent to the agent (15053)",
            "the proxy's own DNS to 10.0.0.2 over UDP is not captured", "the proxy's own DNS to 10.0.0.2 over TCP is not captured",
        ])
        #expect(paths.map(\.proto) == [.udp, .tcp, .udp, .tcp])
        #expect(paths.allSatisfy { $0.target == Endpoint(.v4(0x0A00_0002), 53) && $0.capturePort == 15053 && $0.family == .ipv4 })
        #expect(paths.map(\.captured) == [true, true, false, false])
        #expect(paths.map(\.origin) == [.host, .host, .proxy(uid: 1337, gid: 1337), .proxy(uid: 1337, gid: 1337)])
        #expect(paths[0].destination.description == "10.0.0.2:53/udp" && paths[1].destination.description == "10.0.0.2:53")

        var dualStack = config
        dualStack.ipv6 = true
        let v6 = Self.paths(dualStack).filter { $0.family == .ipv6 && $0.target.port == 53 }
        #expect(v6.map(\.name) == ["DNS to fd00::53 over UDP is sent to the agent (15053)", "DNS to fd00::53 over TCP is sent to the agent (15053)",
                                   "the proxy's own DNS to fd00::53 over UDP is not captured", "the proxy's own DNS to fd00::53 over TCP is not captured"])
    }

    @Test func dnsPathsFollowTheCapture() throws {
        // Asked for, but with nothing to capture: no rule, no path.
        #expect(Self.paths(Self.dnsConfig { _ in }).isEmpty)
        // Servers given, but REDIRECT_DNS off.
        var off = Self.dnsConfig { $0.dnsServersV4 = [.v4(0x0A00_0002)] }
        off.redirectDNS = false
        #expect(Self.paths(off).isEmpty)
        // CAPTURE_ALL_DNS: a documentation address stands for any server, per family.
        let all = Self.paths(Self.dnsConfig { $0.captureAllDNS = true; $0.ipv6 = true }).filter(\.captured)
        #expect(all.map(\.target.description) == ["192.0.2.53:53", "192.0.2.53:53", "[2001:db8::53]:53", "[2001:db8::53]:53"])
        // A few servers, not all.
        let many = Self.paths(Self.dnsConfig { $0.dnsServersV4 = (1...6).map { .v4(0x0A00_0000 + $0) } }, limit: 2)
        #expect(Set(many.map(\.target.description)) == ["10.0.0.1:53", "10.0.0.2:53"] && many.count == 8)
    }

    /// `probe-connect` reads what the prober writes.
    @Test func attemptTargetsRoundTrip() throws {
        for text in ["10.0.0.2:53/udp", "10.0.0.1:80", "[fd00::53]:53/udp", "[fd00::1]:8080"] {
            #expect(ConnectionAttempt.Target(parsing: text)?.description == text)
        }
        #expect(ConnectionAttempt.Target(parsing: "10.0.0.1:80/tcp") == ConnectionAttempt.Target(.tcp, Endpoint(.v4(0x0A00_0001), 80)))
        #expect(ConnectionAttempt.Target(parsing: "10.0.0.1:80/sctp") == nil && ConnectionAttempt.Target(parsing: "10.0.0.1/udp") == nil)
    }

    /// A datagram names its target, and only this run's count.
    @Test func datagramsNameTheirTargetAndRun() throws {
        let target = Endpoint(.v6(UInt128(0xfd00) << 112 | 0x53), 53)
        let payload = ProbeDatagram.payload(to: target, tag: "a1")
        #expect(ProbeDatagram.target(in: payload, tag: "a1") == target)
        #expect(ProbeDatagram.target(in: payload, tag: "b2") == nil, "another run's")
        #expect(ProbeDatagram.target(in: Array("\u{12}\u{34}\u{01}\u{00}".utf8), tag: "a1") == nil, "a real DNS query")
    }
}
