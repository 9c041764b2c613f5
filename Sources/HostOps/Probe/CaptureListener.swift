import Glibc
import MeshCapture

/// meshcap standing in for the proxy (or its agent's DNS proxy) on a capture port, one socket per
/// family: every connection it accepts, or datagram it receives, is recorded with where it was
/// going.
final class CaptureListener {
    /// What arrives, and where it was going.
    enum Transport {
        /// Connections. After a REDIRECT the destination is SO_ORIGINAL_DST; a transparent
        /// (TPROXY) listener's connection has it as its own local address.
        case tcp(transparent: Bool)
        /// Datagrams of the run tagged so, each naming its destination (`ProbeDatagram`).
        case udp(tag: String)
    }

    let transport: Transport
    private var sockets: [Int32] = []

    /// Throws with EADDRINUSE when the port is taken (the proxy runs): probing would then test
    /// the proxy, not the rules.
    init(port: Port, transport: Transport, families: Set<Family>) throws(HostError) {
        self.transport = transport
        for family in families.sorted() {
            let any = Endpoint(family == .ipv4 ? .v4(0) : .v6(0), port)
            let type = if case .udp = transport { SOCK_DGRAM } else { SOCK_STREAM }
            let socket = Glibc.socket(any.domain, Int32(type.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard socket >= 0 else { throw HostError("cannot open a socket for port \(port)", errno: errno) }
            sockets.append(socket)
            var on: Int32 = 1
            setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            if family == .ipv6 { setsockopt(socket, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &on, socklen_t(MemoryLayout<Int32>.size)) }
            if case .tcp(transparent: true) = transport {
                let (level, option) = family == .ipv4 ? (SOL_IP, Self.ipTransparent) : (SOL_IPV6, Self.ipv6Transparent)
                guard setsockopt(socket, level, option, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                    throw HostError("cannot make the listener on port \(port) transparent (TPROXY)", errno: errno)
                }
            }
            let bound = any.withSocketAddress { bind(socket, $0, $1) }
            guard bound == 0 else { throw HostError("cannot listen on \(ProbePath.portName(port, proto))", errno: errno) }
            if case .tcp = transport, listen(socket, 256) != 0 { throw HostError("cannot listen on port \(port)", errno: errno) }
        }
    }

    deinit { for socket in sockets { close(socket) } }

    static let ipTransparent: Int32 = 19, ipv6Transparent: Int32 = 75
    /// SO_ORIGINAL_DST, and IP6T_SO_ORIGINAL_DST on SOL_IPV6.
    static let originalDestination: Int32 = 80

    var proto: L4Protocol { if case .udp = transport { .udp } else { .tcp } }

    /// The destinations of what arrived since the last call, and over the next `seconds`: a
    /// datagram sent over loopback may still be on its way when its sender is done.
    func arrivals(waiting seconds: Double) -> [Endpoint] {
        var found = sockets.flatMap(receive)
        let deadline = MonotonicClock.seconds() + seconds
        while MonotonicClock.seconds() < deadline {
            var polled = sockets.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let wait = Int32(max(1, (deadline - MonotonicClock.seconds()) * 1000))
            guard poll(&polled, nfds_t(polled.count), wait) > 0 else { continue }
            for entry in polled where entry.revents != 0 { found += receive(entry.fd) }
        }
        return found
    }

    /// Everything waiting on one socket, without blocking.
    private func receive(_ socket: Int32) -> [Endpoint] {
        var found: [Endpoint] = []
        switch transport {
        case .tcp:
            while true {
                let connection = accept(socket, nil, nil)
                guard connection >= 0 else { break }
                defer { close(connection) }
                if let destination = Self.destination(of: connection) { found.append(destination) }
            }
        case .udp(let tag):
            var buffer = [UInt8](repeating: 0, count: 512)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
                guard count >= 0 else { break }
                if let destination = ProbeDatagram.target(in: buffer.prefix(count), tag: tag) { found.append(destination) }
            }
        }
        return found
    }

    static func destination(of connection: Int32) -> Endpoint? {
        var local = sockaddr_storage(), length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let gotLocal = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(connection, $0, &length) } }
        guard gotLocal == 0, let here = Endpoint(local) else { return nil }
        var original = sockaddr_storage()
        length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let level = here.address.family == .ipv4 ? SOL_IP : SOL_IPV6
        // Fails on a connection no REDIRECT touched (TPROXY): then the local address is it.
        let gotOriginal = getsockopt(connection, level, originalDestination, &original, &length)
        return gotOriginal == 0 ? Endpoint(original) ?? here : here
    }
}
