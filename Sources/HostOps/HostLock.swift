#if canImport(Glibc)
import Glibc
#endif
import MeshCapture

/// Serializes meshcap's own runs that change one network namespace's rules: systemd, Chef and an
/// operator may all run `apply` at once, and an iptables apply is several steps. The lock is an
/// flock(2) on a file named after the namespace (its inode), so runs in different namespaces do
/// not wait for each other; the kernel releases it when the process ends, however it ends.
public final class HostLock {
    private let descriptor: Int32
    public let path: String

    public static let directory = "/run/meshcap"

    /// Waits up to `seconds` for the lock.
    public init(wait seconds: Double) throws(HostError) {
        var namespace = stat()
        let inode = stat("/proc/self/ns/net", &namespace) == 0 ? String(namespace.st_ino) : "unknown"
        path = "\(Self.directory)/netns-\(inode).lock"
        if mkdir(Self.directory, 0o755) != 0 && errno != EEXIST {
            let code = errno
            throw HostError(code == EACCES || code == EPERM ? "changing rules needs root (CAP_NET_ADMIN), and nothing was changed: cannot create \(Self.directory)"
                            : "cannot create \(Self.directory) for meshcap's lock", errno: code)
        }
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            let code = errno
            throw HostError(code == EACCES || code == EPERM ? "changing rules needs root (CAP_NET_ADMIN), and nothing was changed: cannot open the lock \(path)"
                            : "cannot open the lock \(path)", errno: code)
        }
        var clock = timespec()
        clock_gettime(CLOCK_MONOTONIC, &clock)
        let deadline = Double(clock.tv_sec) + Double(clock.tv_nsec) / 1e9 + seconds
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            clock_gettime(CLOCK_MONOTONIC, &clock)
            guard code == EWOULDBLOCK || code == EINTR, Double(clock.tv_sec) + Double(clock.tv_nsec) / 1e9 < deadline else {
                close(descriptor)
                throw HostError(code == EWOULDBLOCK
                    ? "another meshcap run is changing this namespace's rules and still holds \(path) after \(seconds) s (--wait sets how long to wait); nothing was changed"
                    : "cannot lock \(path)", errno: code)
            }
            usleep(20_000)
        }
    }

    deinit { close(descriptor) }
}
