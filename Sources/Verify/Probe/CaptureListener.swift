import Glibc
import MeshCapture

/// meshcap standing in for the proxy on a capture port, one socket per family: every connection
/// it accepts is recorded with where it was going. After a REDIRECT that is SO_ORIGINAL_DST; a
/// TPROXY listener is transparent and the connection's own local address is the destination.
final class CaptureListener {
    let port: Port
    private var sockets: [Int32] = []

    /// Throws with EADDRINUSE when the port is taken (the proxy runs): probing would then test
    /// the proxy, not the rules.
    init(port: Port, families: Set<Family>, transparent: Bool) throws(HostError) {
        self.port = port
        for family in families.sorted() {
            let any = Endpoint(family == .ipv4 ? .v4(0) : .v6(0), port)
            let socket = Glibc.socket(any.domain, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard socket >= 0 else { throw HostError("cannot open a socket for port \(port)", errno: errno) }
            sockets.append(socket)
            var on: Int32 = 1
            setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            if family == .ipv6 { setsockopt(socket, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &on, socklen_t(MemoryLayout<Int32>.size)) }
            if transparent {
                let (level, option) = family == .ipv4 ? (SOL_IP, Self.ipTransparent) : (SOL_IPV6, Self.ipv6Transparent)
                guard setsockopt(socket, level, option, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                    throw HostError("cannot make the listener on port \(port) transparent (TPROXY)", errno: errno)
                }
            }
            let bound = any.withSocketAddress { bind(socket, $0, $1) }
            guard bound == 0, listen(socket, 256) == 0 else { throw HostError("cannot listen on port \(port)", errno: errno) }
        }
    }

    deinit { for socket in sockets { close(socket) } }

    static let ipTransparent: Int32 = 19, ipv6Transparent: Int32 = 75
    /// SO_ORIGINAL_DST, and IP6T_SO_ORIGINAL_DST on SOL_IPV6.
    static let originalDestination: Int32 = 80

    /// The destinations of the connections that arrived since the last call.
    func arrivals() -> [Endpoint] {
        var found: [Endpoint] = []
        for listener in sockets {
            while true {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { break }
                defer { close(connection) }
                if let destination = Self.destination(of: connection) { found.append(destination) }
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
