import CMnl
import Glibc
import MeshCapture
import NftablesBackend

/// A netlink socket (NETLINK_NETFILTER for nf_tables, NETLINK_ROUTE for policy routing), owned:
/// opened, bound and closed exactly once.
final class NetlinkSocket: @unchecked Sendable {
    private let socket: OpaquePointer
    let portID: UInt32
    /// The next request's sequence number: replies are told apart by it, and a socket serves a
    /// whole run (`NetlinkConnection`), so each request takes its own.
    private var sequence = UInt32(truncatingIfNeeded: time(nil))

    /// Sequence numbers for `count` messages; the first of them.
    func nextSequence(count: Int = 1) -> UInt32 {
        let first = sequence
        sequence &+= UInt32(truncatingIfNeeded: count)
        return first
    }

    init(_ netlinkProtocol: Int32 = NETLINK_NETFILTER) throws(HostError) {
        // Close-on-exec: a run's socket lives as long as the run, and the loaders and probes it
        // starts (some as the proxy's user) must not inherit root's netlink socket.
        guard let socket = mnl_socket_open2(netlinkProtocol, Int32(SOCK_CLOEXEC.rawValue)) else {
            throw HostError("cannot open a netlink socket", errno: errno)
        }
        self.socket = socket
        guard mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let code = errno
            mnl_socket_close(socket)
            throw HostError("cannot bind the netlink socket", errno: code)
        }
        portID = mnl_socket_get_portid(socket)
        // Ask the kernel to say which attribute it refused (NLMSGERR_ATTR_OFFS).
        var on: Int32 = 1
        _ = mnl_socket_setsockopt(socket, Int32(NETLINK_EXT_ACK), &on, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { mnl_socket_close(socket) }

    var descriptor: Int32 { mnl_socket_get_fd(socket) }

    /// SO_SNDBUFFORCE/SO_RCVBUFFORCE ignore net.core.*mem_max; a batch must fit in one sendmsg.
    func forceBuffers(send: Int, receive: Int) {
        for (option, size) in [(SO_SNDBUFFORCE, send), (SO_RCVBUFFORCE, receive)] {
            var value = Int32(clamping: size)
            _ = setsockopt(descriptor, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    func send(_ vectors: [iovec]) throws(HostError) {
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        var vectors = vectors
        let sent = withUnsafeMutablePointer(to: &address) { addressPointer in
            vectors.withUnsafeMutableBufferPointer { buffer -> Int in
                var message = msghdr()
                message.msg_name = UnsafeMutableRawPointer(addressPointer)
                message.msg_namelen = socklen_t(MemoryLayout<sockaddr_nl>.size)
                message.msg_iov = buffer.baseAddress
                message.msg_iovlen = buffer.count
                return sendmsg(descriptor, &message, 0)
            }
        }
        guard sent >= 0 else { throw HostError("cannot send the batch to the kernel", errno: errno) }
    }

    func sendRequest(_ bytes: UnsafeRawPointer, length: Int) throws(HostError) {
        guard mnl_socket_sendto(socket, bytes, length) >= 0 else { throw HostError("cannot send a request to the kernel", errno: errno) }
    }

    /// One datagram of replies; nil when none is waiting (with `wait == false`).
    func receive(into buffer: inout [UInt8], wait: Bool) throws(HostError) -> Int? {
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, wait ? 0 : Int32(MSG_DONTWAIT)) }
        if count < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK { return nil }
            throw HostError("cannot read the kernel's reply", errno: errno)
        }
        return count
    }
}
