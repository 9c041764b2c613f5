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

    /// nft's inet tables carry both families; a prefix of the other family never matches.
    @Test func theOtherFamilysPrefixesDoNotMatch() throws {
        let flags = ["-i", "10.96.0.0/12", "--ipv6"]
        #expect(try Self.walk(flags, Self.out("fd00::10", 80), layout: .inet).outcome == .accept)
        #expect(try Self.walk(["-i", "*", "-x", "10.0.0.0/8", "--ipv6"], Self.out("fd00::10", 80), layout: .inet).outcome == .redirect(15001))
    }
}
