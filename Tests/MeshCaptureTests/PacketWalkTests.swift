import Testing
@testable import MeshCapture

/// The walk on known configs: the outcomes Istio's own rules give, in both layouts.
@Suite struct PacketWalkTests {
    static func plan(_ flags: [String]) throws -> CapturePlan {
        let accounts = try AccountDatabase(passwdPath: "/dev/null", groupPath: "/dev/null")
        return CapturePlan(try ConfigLoader.load(files: [], flags: flags, accounts: accounts).config)
    }

    static func walk(_ flags: [String], _ connection: Connection, layout: Layout? = nil) throws -> PacketWalk {
        let plan = try plan(flags)
        return PacketWalk(connection, through: plan.ruleset(for: layout ?? .xtables(connection.family)))
    }

    static func out(_ address: String, _ port: Port, uid: UInt32? = 1000, proto: L4Protocol = .tcp) -> Connection {
        Connection(direction: .outbound, proto: proto, destination: IPAddress(address)!, destinationPort: port, uid: uid, gid: uid)
    }

    static func inbound(_ port: Port, from source: String = "192.0.2.9") -> Connection {
        Connection(direction: .inbound, proto: .tcp, destination: IPAddress("192.0.2.1")!, destinationPort: port, source: IPAddress(source), interface: "eth0")
    }

    @Test(arguments: [Layout.xtables(.ipv4), .inet])
    func outboundToTheServiceRangeIsRedirectedButNotTheProxysOwn(_ layout: Layout) throws {
        let flags = ["-i", "10.96.0.0/12", "-b", "*", "-d", "22"]
        let app = try Self.walk(flags, Self.out("10.96.0.10", 80), layout: layout)
        #expect(app.outcome == .redirect(15001))
        #expect(app.steps.last?.chain == .regular("ISTIO_REDIRECT"))
        #expect(try Self.walk(flags, Self.out("10.96.0.10", 80, uid: 1337), layout: layout).outcome == .accept)
        #expect(try Self.walk(flags, Self.out("8.8.8.8", 80), layout: layout).outcome == .accept)
        #expect(try Self.walk(flags, Self.out("127.0.0.1", 80), layout: layout).outcome == .accept)
        #expect(try Self.walk(flags, Self.inbound(8080), layout: layout).outcome == .redirect(15006))
        #expect(try Self.walk(flags, Self.inbound(22), layout: layout).outcome == .accept)
        // The tunnel port's RETURN comes first.
        #expect(try Self.walk(flags, Self.inbound(15008), layout: layout).outcome == .accept)
    }

    @Test func dnsGoesToTheAgentInAZoneAndTproxyDeliversWithItsMark() throws {
        let dns = ["--redirect-dns", "--dns-servers-v4", "10.0.0.2"]
        let query = try Self.walk(dns, Self.out("10.0.0.2", 53, proto: .udp))
        #expect(query.outcome == .redirect(15053))
        #expect(try Self.walk(dns, Self.out("10.0.0.3", 53, proto: .udp)).outcome == .accept)
        // The agent's own upstream query: let through, in the upstream zone.
        let upstream = try Self.walk(dns, Self.out("10.0.0.2", 53, uid: 1337, proto: .udp))
        #expect(upstream.outcome == .accept)
        #expect(upstream.zone == 1)
        let tproxy = try Self.walk(["-m", "TPROXY", "-b", "*", "-d", "22"], Self.inbound(8080))
        #expect(tproxy.outcome == .tproxy(15006))
        #expect(tproxy.mark == 1337)
        #expect(try Self.walk(["-m", "TPROXY", "-b", "*", "-d", "22"], Self.inbound(22)).outcome == .accept)
    }

    /// A packet arriving on lo was made here: nat PREROUTING does not see it again.
    @Test func inboundOnLoopbackIsNotRedirectedAgain() throws {
        var local = Self.inbound(8080)
        local.interface = "lo"
        local.destination = IPAddress("127.0.0.1")!
        #expect(try Self.walk(["-i", "*", "-b", "*"], local).outcome == .accept)
        #expect(try Self.walk(["-i", "*", "-b", "*"], Self.inbound(8080)).outcome == .redirect(15006))
    }

    /// Envoy calling this host's own address over lo in TPROXY mode: nat lets it by (15008 is the
    /// tunnel port), but it arrives again at mangle PREROUTING on lo with Envoy's mark, where
    /// TPROXY takes it (the kernel test found this: the walk had stopped at OUTPUT).
    @Test func aConnectionOverLoopbackIsSeenAgainAtPrerouting() throws {
        var own = Self.out("192.0.2.1", 15008, uid: 1337)
        own.interface = "lo"
        let walk = try Self.walk(["-m", "TPROXY", "-i", "*", "-b", "*"], own)
        #expect(walk.outcome == .tproxy(15006))
        #expect(walk.steps.contains { $0.table == .mangle && $0.chain == .prerouting })
        // In REDIRECT mode there is nothing at mangle PREROUTING: it stays the app's.
        #expect(try Self.walk(["-i", "*", "-b", "*"], own).outcome == .accept)
    }

    /// What the connection leaves open is named when a rule tests it.
    @Test func unknownOwnersAreNamed() throws {
        let walk = try Self.walk(["-i", "*"], Self.out("10.96.0.10", 80, uid: nil))
        #expect(walk.unknowns == ["the output interface (taken as not lo: give --iface lo for this host's own addresses)", "the socket's group (--gid)", "the socket's owner (--uid)"])
        #expect(try Self.walk(["-i", "*"], Self.out("10.96.0.10", 80)).unknowns == ["the output interface (taken as not lo: give --iface lo for this host's own addresses)"])
    }

    /// nft's inet tables carry both families; a prefix of the other family never matches.
    @Test func theOtherFamilysPrefixesDoNotMatch() throws {
        // The proxy's own connection to itself over lo: `-o lo ! -d 127.0.0.1/32` is IPv4's rule
        // in the inet table, which must not send ::1 to the inbound listener.
        var own = Self.out("::1", 8080, uid: 1337)
        own.interface = "lo"
        #expect(try Self.walk(["-i", "*", "-b", "*", "--ipv6"], own, layout: .inet).outcome == .accept)
        let flags = ["-i", "10.96.0.0/12", "--ipv6"]
        #expect(try Self.walk(flags, Self.out("fd00::10", 80), layout: .inet).outcome == .accept)
        #expect(try Self.walk(["-i", "*", "-x", "10.0.0.0/8", "--ipv6"], Self.out("fd00::10", 80), layout: .inet).outcome == .redirect(15001))
    }
}
