import Glibc
import MeshCapture

/// Opens TCP connections to many endpoints at once and waits for all of them, at most
/// `timeout` seconds: a path that is not captured goes out to the network, where nobody may
/// answer, so the attempts run side by side rather than one timeout after another.
public enum ConnectionAttempt {
    /// Per endpoint: "connected", "refused", "timed out" or the error.
    public static func connect(_ endpoints: [Endpoint], timeout: Double) -> [String] {
        var sockets: [Int32] = [], outcomes = [String](repeating: "", count: endpoints.count)
        for (index, endpoint) in endpoints.enumerated() {
            let socket = Glibc.socket(endpoint.domain, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            sockets.append(socket)
            guard socket >= 0 else { outcomes[index] = String(cString: strerror(errno)); continue }
            let result = endpoint.withSocketAddress { Glibc.connect(socket, $0, $1) }
            if result == 0 { outcomes[index] = "connected" } else if errno != EINPROGRESS { outcomes[index] = Self.describe(errno) }
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
                outcomes[index] = error == 0 ? "connected" : Self.describe(error)
            }
        }
        for (index, socket) in sockets.enumerated() where socket >= 0 {
            if outcomes[index].isEmpty { outcomes[index] = "timed out" }
            close(socket)
        }
        return outcomes
    }

    static func describe(_ code: Int32) -> String { code == ECONNREFUSED ? "refused" : String(cString: strerror(code)) }

}
