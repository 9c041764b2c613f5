import Glibc
import MeshCapture

/// `verify --probe`: meshcap stands in for the proxy on its capture ports, opens real
/// connections along each path, and sees which arrive where. Like Istio's validation mode, but
/// for every path, both directions and both families, before Envoy runs. With DNS capture it
/// stands in for the agent's DNS proxy too, on TCP and UDP.
///
/// Paths run in three rounds (this host as root, as the proxy's UID, the peer), arrivals
/// collected after each, so two paths to one endpoint with opposite expectations do not mix.
/// A path that is not captured sends its SYN (or datagram) to the network: to one address of
/// each range, to the DNS servers.
public enum Prober {
    public static func run(_ paths: [ProbePath], config: InterceptConfig, timeout: Double = 1.5) -> (results: [ProbeResult], notes: [String]) {
        var notes: [String] = []
        // The children of the proxy's and the peer's rounds run this binary.
        let executable = SelfProcess.executable
        // In every datagram, so that only this run's count.
        let tag = String(UInt64.random(in: 1...UInt64.max), radix: 16)
        // The proxy's two ports always, so that a capture to the wrong one is seen, and every
        // port a path is captured to.
        var points: [CapturePoint] = []
        for point in [CapturePoint(port: config.proxyPort, proto: .tcp), CapturePoint(port: config.inboundCapturePort, proto: .tcp)] + paths.map(\.capturePoint)
        where !points.contains(point) {
            points.append(point)
        }
        var listeners: [CapturePoint: CaptureListener] = [:]
        for point in points {
            let transport: CaptureListener.Transport = point.proto == .udp ? .udp(tag: tag)
                : .tcp(transparent: point.port == config.inboundCapturePort && config.interceptionMode == .tproxy)
            let name = ProbePath.portName(point.port, point.proto)
            do {
                listeners[point] = try CaptureListener(port: point.port, transport: transport, families: config.families)
                notes.append("meshcap listened on \(name) for the probe")
            } catch {
                notes.append("\(name) is taken (is the proxy running?): paths captured to it are skipped (\(error.description))")
            }
        }
        var peer: ProbePeer?
        if paths.contains(where: { $0.origin == .peer }) {
            do { peer = try ProbePeer(families: config.families) } catch { notes.append("no probe peer for inbound paths: \((error as? Failure)?.lines.joined(separator: "; ") ?? "\(error)")") }
        }

        var results: [ProbeResult] = []
        let rounds = Dictionary(grouping: paths, by: \.origin)
        for origin in rounds.keys.sorted(by: { Self.rank($0) < Self.rank($1) }) {
            let round = rounds[origin] ?? []
            // A path can be judged only if meshcap listens where a capture of it would arrive.
            let (ready, unready) = round.partitioned { listeners[$0.capturePoint] != nil }
            results += unready.map { ProbeResult(path: $0, skipped: .portTaken($0.capturePort, $0.proto)) }
            guard !ready.isEmpty else { continue }
            if origin == .peer && peer == nil {
                results += ready.map { ProbeResult(path: $0, skipped: .noPeer) }
                continue
            }
            let attempts = Self.attempt(ready.map(\.destination), tag: tag, from: origin, peer: peer, executable: executable, timeout: timeout)
            let settle = ready.contains { $0.proto == .udp } ? Self.datagramSettle : 0
            var arrivals: [ConnectionAttempt.Target: Port] = [:]
            for (point, listener) in listeners {
                for destination in listener.arrivals(waiting: point.proto == .udp ? settle : 0) {
                    arrivals[ConnectionAttempt.Target(point.proto, destination)] = point.port
                }
            }
            for (path, attempt) in zip(ready, attempts) {
                let arrived = arrivals[path.destination]
                // A connection that never left (no route, a child that could not start) proves nothing.
                guard arrived != nil || Self.wentOut.contains(attempt) else {
                    results.append(ProbeResult(path: path, skipped: .notSent(path.destination, attempt)))
                    continue
                }
                switch (path.captured, arrived) {
                case (true, let port?) where port == path.capturePort:
                    results.append(ProbeResult(path: path, outcome: .passed, detail: "arrived on \(port) for \(path.target)"))
                case (true, let port?):
                    results.append(ProbeResult(path: path, outcome: .failed, detail: "arrived on \(port), not \(path.capturePort), for \(path.target)"))
                case (true, nil):
                    results.append(ProbeResult(path: path, outcome: .failed, detail: "not captured: \(path.target) \(attempt)"))
                case (false, let port?):
                    results.append(ProbeResult(path: path, outcome: .failed, detail: "captured: arrived on \(port) for \(path.target)"))
                case (false, nil):
                    results.append(ProbeResult(path: path, outcome: .passed, detail: "not captured (\(path.target) \(attempt))"))
                }
            }
        }
        withExtendedLifetime(peer) {}
        return (paths.compactMap { path in results.first { $0.path == path } }, notes)
    }

    /// A capture port, and the protocol meshcap listens for there.
    struct CapturePoint: Hashable {
        let port: Port
        let proto: L4Protocol
    }

    /// The outcomes of a connection or datagram that was sent: answered, refused, unanswered,
    /// unreachable once sent (see `ConnectionAttempt.connect`), or (UDP) sent.
    static let wentOut: Set<String> = ["connected", "refused", "timed out", "unreachable", "sent"]

    /// How long the UDP listeners wait for a round's datagrams: over loopback a datagram is
    /// delivered in the sender's system call, unless the host is busy enough to defer it.
    static let datagramSettle = 0.2

    static func rank(_ origin: ProbePath.Origin) -> Int {
        switch origin {
        case .host: 0
        case .proxy: 1
        case .peer: 2
        }
    }

    /// The connection attempts of one round: in this process, or in a child (as the proxy's
    /// user, or in the peer's namespace) running `meshcap probe-connect`.
    static func attempt(_ targets: [ConnectionAttempt.Target], tag: String, from origin: ProbePath.Origin, peer: ProbePeer?, executable: String, timeout: Double) -> [String] {
        let connect = ["probe-connect", "--timeout", String(timeout), "--tag", tag] + targets.map(\.description)
        let command: (String, [String])
        switch origin {
        case .host:
            return ConnectionAttempt.connect(targets, tag: tag, timeout: timeout)
        case .proxy(let uid, let gid):
            command = (executable, connect + ["--uid", String(uid), "--gid", String(gid)])
        case .peer:
            command = ("ip", ["netns", "exec", peer?.namespace ?? "", executable] + connect)
        }
        guard let result = try? Command.run(command.0, command.1), result.status == 0 else {
            return targets.map { _ in "could not be tried" }
        }
        let lines = result.stdout.split(separator: "\n").map(String.init)
        return targets.indices.map { lines.indices.contains($0) ? lines[$0] : "no answer" }
    }
}

extension ProbePath {
    var capturePoint: Prober.CapturePoint { Prober.CapturePoint(port: capturePort, proto: proto) }
}

extension Array {
    func partitioned(_ belongs: (Element) -> Bool) -> ([Element], [Element]) {
        (filter(belongs), filter { !belongs($0) })
    }
}
