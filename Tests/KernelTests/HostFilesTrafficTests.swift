import Foundation
import Testing
import TestSupport

/// What meshcap takes from a VM's files, checked with real connections: rules compiled by the
/// CLI against a passwd and a resolv.conf, loaded with each backend's own loader into a test
/// namespace.
@Suite(.serialized) struct HostFilesTrafficTests {
    enum Backend: String, CaseIterable { case iptables, nft }

    static let vmPasswd = packageRoot.appendingPathComponent("Rules/vm-host/passwd").path

    /// `meshcap compile --output-dir` with `arguments`, loaded with iptables-nft-restore per family
    /// or with nft -f.
    func compileAndLoad(_ backend: Backend, _ arguments: [String], into network: TestNetwork) throws -> ProcessResult {
        let out = try temporaryDirectory("hostfiles")
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try run(meshcap, ["compile", "--output-dir", out.path] + arguments)
        guard result.status == 0 else { throw LoadFailure(description: "meshcap compile \(arguments): \(result.stderr)") }
        let file = { (name: String) in try String(contentsOf: out.appendingPathComponent(name), encoding: .utf8) }
        switch backend {
        case .iptables:
            try network.workload.exec("iptables-nft-restore", "--noflush", input: file("rules.v4"))
            if FileManager.default.fileExists(atPath: out.appendingPathComponent("rules.v6").path) {
                try network.workload.exec("ip6tables-nft-restore", "--noflush", input: file("rules.v6"))
            }
        case .nft:
            try network.workload.exec("nft", "-f", "-", input: file("rules.nft"))
        }
        return result
    }

    /// The VM's package made istio-proxy UID 998: Envoy's own connections (998) leave untouched,
    /// the app's (1000) and those of a process that happens to be 1337 are captured.
    @Test(.needsRoot, arguments: Backend.allCases)
    func theProxyUIDComesFromEnvoyUsersAccount(_ backend: Backend) throws {
        let network = try TestNetwork()
        try network.serve(in: network.workload, port: 15001, name: "proxy-outbound")
        try network.serve(in: network.peer, port: 8080, name: "peer")
        let compiled = try compileAndLoad(backend, ["--passwd-file", Self.vmPasswd, "-i", "\(TestNetwork.peerAddress)/32"], into: network)
        #expect(compiled.stderr.contains("filled in: PROXY_UID=998, PROXY_GID=998 (user istio-proxy in \(Self.vmPasswd))"))

        let peer = TestNetwork.peerAddress
        #expect(try network.connect(from: network.workload, to: peer, port: 8080, uid: 998) == "peer \(peer):8080")
        #expect(try network.connect(from: network.workload, to: peer, port: 8080, uid: 1000) == "proxy-outbound \(peer):8080")
        #expect(try network.connect(from: network.workload, to: peer, port: 8080, uid: 1337) == "proxy-outbound \(peer):8080")
    }

    @Test(.needsRoot, arguments: Backend.allCases)
    func anExplicitProxyUIDStillWins(_ backend: Backend) throws {
        let network = try TestNetwork()
        try network.serve(in: network.workload, port: 15001, name: "proxy-outbound")
        try network.serve(in: network.peer, port: 8080, name: "peer")
        let compiled = try compileAndLoad(backend, ["--passwd-file", Self.vmPasswd, "-u", "1337", "-i", "\(TestNetwork.peerAddress)/32"], into: network)
        #expect(compiled.stderr.contains("is not the UID of ENVOY_USER istio-proxy, 998"), "\(compiled.stderr)")

        let peer = TestNetwork.peerAddress
        #expect(try network.connect(from: network.workload, to: peer, port: 8080, uid: 1337) == "peer \(peer):8080")
        #expect(try network.connect(from: network.workload, to: peer, port: 8080, uid: 998) == "proxy-outbound \(peer):8080")
    }

    /// DNS capture on, no servers given: the resolvers of resolv.conf, one per family, are
    /// captured over UDP and TCP.
    @Test(.needsRoot, arguments: Backend.allCases)
    func dnsServersComeFromResolvConf(_ backend: Backend) throws {
        let network = try TestNetwork()
        let (workload, peer) = (network.workload, network.peer)
        try network.serve(in: workload, port: 15053, name: "agent", .udp)
        try network.serve(in: workload, port: 15053, name: "agent")
        try network.serve(in: peer, port: 53, name: "resolver", .udp)
        let work = try temporaryDirectory("resolv")
        defer { try? FileManager.default.removeItem(at: work) }
        let resolv = work.appendingPathComponent("resolv.conf")
        try "nameserver \(TestNetwork.peerAddress)\nnameserver \(TestNetwork.peerAddress6)\n".write(to: resolv, atomically: true, encoding: .utf8)
        let compiled = try compileAndLoad(backend, ["--resolv-conf", resolv.path, "--redirect-dns", "--ipv6", "-u", "1337"], into: network)
        #expect(compiled.stderr.contains("DNS_SERVERS_V4=\(TestNetwork.peerAddress), DNS_SERVERS_V6=\(TestNetwork.peerAddress6) (nameservers in \(resolv.path))"), "\(compiled.stderr)")

        for resolver in [TestNetwork.peerAddress, TestNetwork.peerAddress6] {
            let shown = resolver.contains(":") ? "[\(resolver)]" : resolver
            #expect(try network.connect(from: workload, to: resolver, port: 53, udp: true) == "agent", "UDP to \(resolver)")
            #expect(try network.connect(from: workload, to: resolver, port: 53) == "agent \(shown):53", "TCP to \(resolver)")
            // The agent's own upstream query reaches the resolver.
            #expect(try network.connect(from: workload, to: resolver, port: 53, uid: 1337, udp: true) == "resolver")
        }
        // With CAPTURE_ALL_DNS there is nothing to read: a resolv.conf that does not exist is fine.
        #expect(try run(meshcap, ["compile", "--redirect-dns", "--capture-all-dns", "--resolv-conf", "/nonexistent/resolv.conf"]).status == 0)
    }
}
