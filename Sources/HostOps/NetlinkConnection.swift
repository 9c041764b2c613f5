import CMnl
import Glibc
import MeshCapture
import NftablesBackend
import Synchronization

/// One netlink socket per protocol for a whole run in its network namespace, and the kernel's
/// list of every chain read once per ruleset generation. A run used to open a socket for each
/// question (the chain list for the residue, again for each iptables family, again for the
/// chains that may run ahead; the rule dump; the batch; the journal's namespace cookie) and
/// read the chain list up to four times.
///
/// Sharing is for the CLI's run (`shareForThisRun`): a socket belongs to the namespace it was
/// opened in, so one opened in another namespace than the calling thread's now is not reused;
/// and code that hops between namespaces in one process (the kernel tests) keeps a socket per
/// call, which closes with it, rather than keeping every namespace it visited alive.
public enum NetlinkConnection {
    struct Shared: @unchecked Sendable {
        var on = false
        /// By netlink protocol: the socket and the namespace (its nsfs inode) it was opened in.
        var sockets: [Int32: (socket: NetlinkSocket, namespace: UInt64)] = [:]
        /// The chain list read at a generation, through the shared nf_tables socket.
        var chains: (generation: UInt32, namespace: UInt64, list: [DumpedChain])?
    }

    private static let shared = Mutex(Shared())

    /// From here on, this process reuses one socket per protocol and namespace.
    public static func shareForThisRun() { shared.withLock { $0.on = true } }

    /// The calling thread's network namespace, by its nsfs inode.
    static var namespace: UInt64 {
        var status = stat()
        return stat(HostLock.namespaceFile, &status) == 0 ? UInt64(status.st_ino) : 0
    }

    /// A socket of `netlinkProtocol` in the calling thread's namespace: the run's, when shared.
    static func socket(_ netlinkProtocol: Int32 = NETLINK_NETFILTER) throws(HostError) -> NetlinkSocket {
        let here = namespace
        if let found = shared.withLock({ state -> NetlinkSocket? in
            guard state.on, let entry = state.sockets[netlinkProtocol], entry.namespace == here else { return nil }
            return entry.socket
        }) {
            return found
        }
        let socket = try NetlinkSocket(netlinkProtocol)
        shared.withLock { state in
            if state.on && state.sockets[netlinkProtocol] == nil { state.sockets[netlinkProtocol] = (socket, here) }
        }
        return socket
    }

    /// The chain list remembered for this generation in this namespace, if any.
    static func chains(at generation: UInt32) -> [DumpedChain]? {
        let here = namespace
        return shared.withLock { state in
            guard state.on, let cached = state.chains, cached.generation == generation, cached.namespace == here else { return nil }
            return cached.list
        }
    }

    static func remember(_ chains: [DumpedChain], at generation: UInt32) {
        let here = namespace
        shared.withLock { state in
            if state.on { state.chains = (generation, here, chains) }
        }
    }
}
