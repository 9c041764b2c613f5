import Foundation
import TestSupport

/// Two namespaces joined by a veth pair: a workload host (where meshcap's rules go) at
/// 198.51.100.1 / 2001:db8:5::1 and a peer at 198.51.100.2 / 2001:db8:5::2. All are created
/// here, from the documentation ranges.
final class TestNetwork {
    let workload: Namespace
    let peer: Namespace
    static let workloadAddress = "198.51.100.1"
    static let peerAddress = "198.51.100.2"
    static let workloadAddress6 = "2001:db8:5::1"
    static let peerAddress6 = "2001:db8:5::2"
    private var servers: [Process] = []

    init() throws {
        workload = try Namespace("w")
        peer = try Namespace("p")
        try workload.exec("ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth0", "netns", peer.name)
        for (ns, address, address6) in [(workload, Self.workloadAddress, Self.workloadAddress6), (peer, Self.peerAddress, Self.peerAddress6)] {
            try ns.exec("ip", "addr", "add", "\(address)/30", "dev", "veth0")
            // nodad: usable at once, without waiting for duplicate address detection.
            try ns.exec("ip", "addr", "add", "\(address6)/64", "dev", "veth0", "nodad")
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

    enum Server: String {
        case tcp = "serve"
        case udp = "serve-udp"
        /// TCP on IP_TRANSPARENT sockets, where TPROXY delivers.
        case transparent = "serve-transparent"
    }

    /// Starts a probe server and waits until it listens; as `uid` (and the group of that
    /// number) where the rules tell the proxy's sockets apart by their owner.
    func serve(in ns: Namespace, port: Int, name: String, _ kind: Server = .tcp, uid: Int? = nil) throws {
        let udp = kind == .udp
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // The system's python: a python3 found on root's PATH may be root's own.
        let user = uid.map { ["setpriv", "--reuid=\($0)", "--regid=\($0)", "--clear-groups", "/usr/bin/python3"] } ?? ["python3"]
        process.arguments = ["ip", "netns", "exec", ns.name] + user + [Self.probe, kind.rawValue, String(port), name]
        try process.run()
        servers.append(process)
        for _ in 0..<100 {
            if try ns.exec("ss", udp ? "-Hlun" : "-Hltn", "sport = :\(port)").contains(":\(port)") { return }
            usleep(20_000)
        }
        throw LoadFailure(description: "probe server \(name) did not listen on \(port) in \(ns.name)")
    }

    /// What the server that accepted a connection (or answered a datagram) said, or "failed: ...".
    func connect(from ns: Namespace, to host: String, port: Int, uid: Int? = nil, udp: Bool = false) throws -> String {
        let result = try run("ip", ["netns", "exec", ns.name, "python3", Self.probe, udp ? "query" : "connect", host, String(port)]
                             + (uid.map { [String($0)] } ?? []))
        return result.status == 0 ? result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : "failed: \(result.stderr.split(separator: "\n").last ?? "")"
    }

    /// A client opening connections from `ns` to `host`:`port` until told to stop (and at least
    /// `minimum` of them), counting by who answered: what a test does while it changes the rules.
    final class ConnectionLoop {
        private let client = Process(), output = Pipe()
        private let stopFile: URL

        init(from ns: Namespace, to host: String, port: Int, minimum: Int) throws {
            stopFile = try temporaryDirectory("loop").appendingPathComponent("stop")
            client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            client.arguments = ["ip", "netns", "exec", ns.name, "python3", TestNetwork.probe, "connect-until", host, String(port), String(minimum), stopFile.path]
            client.standardOutput = output
            try client.run()
        }

        var isRunning: Bool { client.isRunning }

        /// Asks it to stop once it made its minimum.
        func stop() { _ = FileManager.default.createFile(atPath: stopFile.path, contents: nil) }

        /// Stops it (once it made its minimum) and returns the connections by who answered:
        /// "proxy-outbound", "peer", "failed".
        func finish() -> [String: Int] {
            stop()
            client.waitUntilExit()
            try? FileManager.default.removeItem(at: stopFile.deletingLastPathComponent())
            let counts = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            return Dictionary(uniqueKeysWithValues: counts.split(whereSeparator: \.isWhitespace).compactMap { pair -> (String, Int)? in
                let parts = pair.split(separator: "=")
                return parts.count == 2 ? (String(parts[0]), Int(parts[1]) ?? -1) : nil
            })
        }
    }
}
