import Foundation
import TestSupport

/// Two network namespaces joined by a veth pair: a workload host ("client", where meshcap's
/// rules go) at 198.51.100.1 and a peer ("server") at 198.51.100.2. Both addresses are created
/// here (TEST-NET-2), and both namespaces are deleted when the network is.
final class TestNetwork {
    let workload: String
    let peer: String
    static let workloadAddress = "198.51.100.1"
    static let peerAddress = "198.51.100.2"
    private var servers: [Process] = []

    init() throws {
        let tag = "mc\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        workload = "\(tag)-w"
        peer = "\(tag)-p"
        try shell("ip", "netns", "add", workload)
        try shell("ip", "netns", "add", peer)
        try shell("ip", "-n", workload, "link", "add", "veth0", "type", "veth", "peer", "name", "veth0", "netns", peer)
        for (ns, address) in [(workload, Self.workloadAddress), (peer, Self.peerAddress)] {
            try shell("ip", "-n", ns, "addr", "add", "\(address)/30", "dev", "veth0")
            try shell("ip", "-n", ns, "link", "set", "veth0", "up")
            try shell("ip", "-n", ns, "link", "set", "lo", "up")
        }
    }

    deinit {
        // SIGKILL: a child may have inherited a signal mask that blocks SIGTERM.
        for server in servers {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        _ = try? run("ip", ["netns", "del", workload])
        _ = try? run("ip", ["netns", "del", peer])
    }

    @discardableResult
    func shell(_ arguments: String..., input: String? = nil) throws -> String {
        let result = try run(arguments[0], Array(arguments.dropFirst()), input: input)
        guard result.status == 0 else {
            throw LoadFailure(description: "\(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
        return result.stdout
    }

    static let probe = packageRoot.appendingPathComponent("Tests/KernelTests/Fixtures/probe.py").path

    /// Starts a probe server and waits until it listens.
    func serve(in ns: String, port: Int, name: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", ns, "python3", Self.probe, "serve", String(port), name]
        try process.run()
        servers.append(process)
        for _ in 0..<100 {
            if try shell("ip", "netns", "exec", ns, "ss", "-Hltn", "sport = :\(port)").contains(":\(port)") { return }
            usleep(20_000)
        }
        throw LoadFailure(description: "probe server \(name) did not listen on \(port) in \(ns)")
    }

    /// What the server that accepted a connection said, or "failed: ...".
    func connect(from ns: String, to host: String, port: Int, uid: Int? = nil) throws -> String {
        let result = try run("ip", ["netns", "exec", ns, "python3", Self.probe, "connect", host, String(port)] + (uid.map { [String($0)] } ?? []))
        return result.status == 0 ? result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : "failed: \(result.stderr.split(separator: "\n").last ?? "")"
    }
}
