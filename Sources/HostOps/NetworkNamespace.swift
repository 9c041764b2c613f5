#if canImport(Glibc)
import Glibc
#endif
import MeshCapture

// glibc declares setns, unshare and CLONE_NEWNET only under _GNU_SOURCE, which Swift's Glibc
// module does not set.
@_silgen_name("setns") private func setNamespace(_ descriptor: Int32, _ type: Int32) -> Int32
@_silgen_name("unshare") private func unshareNamespaces(_ flags: Int32) -> Int32
private let newNetworkNamespace: Int32 = 0x4000_0000

/// The network namespace a host command works in (`--netns`, Istio's NETWORK_NAMESPACE): a name
/// `ip netns add` made (a file under /run/netns) or any namespace file, such as a container's
/// `/proc/PID/ns/net`.
///
/// meshcap enters it with setns(2) on the main thread before it opens a netlink socket, takes its
/// lock or starts a loader. That thread is the one every socket is opened on and every loader is
/// spawned from (a child starts in its parent thread's namespace), and /proc/self/net, which doctor
/// reads, follows it as the process's leader. Only the network namespace changes: unlike
/// `ip netns exec`, the mount namespace stays, so the config files, /etc/passwd and resolv.conf are
/// the caller's (`--resolv-conf /etc/netns/NAME/resolv.conf` picks the namespace's own).
public struct NetworkNamespace: Sendable, Hashable {
    /// The file that stands for the namespace.
    public let path: String
    /// As the user named it.
    public let spec: String
    /// Where it was asked for, for messages: "--netns web", or "NETWORK_NAMESPACE=web (cluster.env:4)" as `Setting.cited` says it.
    public let asked: String

    public static let namedDirectory = "/run/netns"

    /// - Parameter spec: a name under /run/netns, or a path (anything with a "/").
    public init(_ spec: String, asked: String) throws(ConfigError) {
        self.spec = spec
        self.asked = asked
        if spec.contains("/") {
            path = spec
        } else {
            // `ip netns` refuses these names too; "." and ".." would leave /run/netns.
            guard !spec.isEmpty, spec != ".", spec != ".." else {
                throw ConfigError(origin: nil, message: "\(asked): not a namespace name; allowed: a name from `ip netns list`, or a path such as /proc/PID/ns/net")
            }
            path = "\(Self.namedDirectory)/\(spec)"
        }
    }

    /// Moves this thread (the main one: see the type's note) into the namespace.
    public func enter() throws(HostError) {
        // O_NONBLOCK: a FIFO given by mistake opens at once (and setns refuses it) instead of
        // waiting for a writer.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            let code = errno
            throw HostError(code == ENOENT && !spec.contains("/")
                ? "\(asked): there is no network namespace of that name (\(path) does not exist; `ip netns list` shows the named ones); nothing was changed"
                : "\(asked): cannot open \(path); nothing was changed", errno: code)
        }
        defer { close(descriptor) }
        guard setNamespace(descriptor, newNetworkNamespace) == 0 else {
            let code = errno
            throw HostError(code == EINVAL
                ? "\(asked): \(path) is not a network namespace (allowed: a name from `ip netns list`, or a path such as /proc/PID/ns/net); nothing was changed"
                : "\(asked): cannot enter the network namespace (this needs root, CAP_SYS_ADMIN); nothing was changed", errno: code)
        }
    }

    /// Moves this thread into a new, empty network namespace of its own (doctor's kernel probes).
    public static func enterNew() throws(HostError) {
        guard unshareNamespaces(newNetworkNamespace) == 0 else { throw HostError("cannot make a network namespace to probe in", errno: errno) }
    }

    /// Brings this thread's namespace's loopback up (`ip link set lo up`): a new namespace has it
    /// down, and policy routing needs it.
    public static func bringLoopbackUp() throws(HostError) {
        let result = try Command.run("ip", ["link", "set", "lo", "up"])
        guard result.status == 0 else { throw HostError("ip link set lo up failed: \(result.stderr.trimmed)") }
    }

    /// Whether this thread is in a network namespace other than the host's, where the kernel
    /// writes no LOG lines unless the host's net.netfilter.nf_log_all_netns is 1. Every namespace
    /// has the nf_log sysctls, but only the host's (init_net) has nf_log_all_netns; PID 1's
    /// namespace, the other way to tell, is often not ours to read.
    public static var kernelLogIsOffHere: Bool {
        access("/proc/sys/net/netfilter/nf_log", F_OK) == 0 && access("/proc/sys/net/netfilter/nf_log_all_netns", F_OK) != 0
    }
}
