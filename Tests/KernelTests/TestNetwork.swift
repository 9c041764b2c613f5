import Foundation
import TestSupport

/// Two namespaces joined by a veth pair: a workload host (where meshcap's rules go) at
/// 198.51.100.1 and a peer at 198.51.100.2. Both addresses are created here (TEST-NET-2).
final class TestNetwork {
    let workload: Namespace
    let peer: Namespace
    static let workloadAddress = "198.51.100.1"
    static let peerAddress = "198.51.100.2"
    private var servers: [Process] = []

    init() throws {
        workload = try Namespace("w")
        peer = try Namespace("p")
        try workload.exec("ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth0", "netns", peer.name)
        for (ns, address) in [(workload, Self.workloadAddress), (peer, Self.peerAddress)] {
            try ns.exec("ip", "addr", "add", "\(address)/30", "dev", "veth0")
            try ns.exec("ip", "link", "set", "veth0", "up")
        }
    }

    deinit {
        // SIGKILL: a child may have inherited a signal mask that blocks SIGTERM.
        for server in servers {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
    }

    static let probe = packageRoot.appendingPathComponent("Tests/KernelTests/Fixtures/probe.py").path

    /// Starts a probe server and waits until it listens.
    func serve(in ns: Namespace, port: Int, name: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", ns.name, "python3", Self.probe, "serve", String(port), name]
        try process.run()
        servers.append(process)
        for _ in 0..<100 {
            if try ns.exec("ss", "-Hltn", "sport = :\(port)").contains(":\(port)") { return }
            usleep(20_000)
        }
        throw LoadFailure(description: "probe server \(name) did not listen on \(port) in \(ns.name)")
    }

    /// What the server that accepted a connection said, or "failed: ...".
    func connect(from ns: Namespace, to host: String, port: Int, uid: Int? = nil) throws -> String {
        let result = try run("ip", ["netns", "exec", ns.name, "python3", Self.probe, "connect", host, String(port)] + (uid.map { [String($0)] } ?? []))
        return result.status == 0 ? result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : "failed: \(result.stderr.split(separator: "\n").last ?? "")"
    }
}
