import Glibc
import MeshCapture

/// The sockets of a probe round: opens TCP connections to many endpoints at once and waits for
/// all of them, at most `timeout` seconds: a path that is not captured goes out to the network,
/// where nobody may answer, so the attempts run side by side rather than one timeout after
/// another. A UDP target gets one datagram naming it (`ProbeDatagram`); nothing answers those,
/// so sent is all there is to know here.
extension ConnectionAttempt {
    /// Per target: "connected", "refused", "timed out", "unreachable", "sent" (UDP) or the error. `tag` goes
    /// into each datagram, for the listener to know this run's.
    public static func connect(_ targets: [Target], tag: String, timeout: Double) -> [String] {
        var sockets: [Int32] = [], outcomes = [String](repeating: "", count: targets.count)
        for (index, target) in targets.enumerated() {
            let endpoint = target.endpoint
            let type = target.proto == .tcp ? SOCK_STREAM : SOCK_DGRAM
            let socket = Glibc.socket(endpoint.domain, Int32(type.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            sockets.append(socket)
            guard socket >= 0 else { outcomes[index] = String(cString: strerror(errno)); continue }
            switch target.proto {
            case .tcp:
                let result = endpoint.withSocketAddress { Glibc.connect(socket, $0, $1) }
                if result == 0 { outcomes[index] = "connected" } else if errno != EINPROGRESS { outcomes[index] = Self.describe(errno) }
            case .udp:
                let payload = ProbeDatagram.payload(to: endpoint, tag: tag)
                let sent = payload.withUnsafeBytes { bytes in endpoint.withSocketAddress { sendto(socket, bytes.baseAddress, bytes.count, 0, $0, $1) } }
                outcomes[index] = sent == payload.count ? "sent" : Self.describe(errno)
            }
        }
        let deadline = MonotonicClock.seconds() + timeout
        while outcomes.contains(""), MonotonicClock.seconds() < deadline {
            var polled = sockets.enumerated().filter { outcomes[$0.offset].isEmpty }.map { pollfd(fd: $0.element, events: Int16(POLLOUT), revents: 0) }
            let wait = Int32(max(1, (deadline - MonotonicClock.seconds()) * 1000))
            guard poll(&polled, nfds_t(polled.count), wait) > 0 else { continue }
            for entry in polled where entry.revents != 0 {
                guard let index = sockets.firstIndex(of: entry.fd) else { continue }
                var error: Int32 = 0, length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(entry.fd, SOL_SOCKET, SO_ERROR, &error, &length)
                // Later, not at connect(): the SYN was sent, past the hooks, and nothing
                // answered for the address (no neighbour, an ICMP unreachable): it went out.
                outcomes[index] = error == 0 ? "connected" : error == EHOSTUNREACH ? "unreachable" : Self.describe(error)
            }
        }
        for (index, socket) in sockets.enumerated() where socket >= 0 {
            if outcomes[index].isEmpty { outcomes[index] = "timed out" }
            close(socket)
        }
        return outcomes
    }

    /// "refused", or the error. An error at connect() itself (no route, an unreachable route)
    /// comes back before the SYN meets any hook: it says nothing of capture.
    static func describe(_ code: Int32) -> String { code == ECONNREFUSED ? "refused" : String(cString: strerror(code)) }
}
