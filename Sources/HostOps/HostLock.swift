#if canImport(Glibc)
import Glibc
#endif
import MeshCapture

/// Serializes meshcap's own runs that change one network namespace's rules: systemd, Chef and an
/// operator may all run `apply` at once, and an iptables apply is several steps. The lock is an
/// flock(2) on the namespace's own file (/proc/thread-self/ns/net, the nsfs inode every opener of that
/// namespace shares), so runs in different namespaces do not wait for each other, nothing is
/// created on disk for it, and the kernel releases it when the process ends, however it ends.
public final class HostLock {
    private let descriptor: Int32

    /// The calling thread's (setns moves a thread; meshcap calls it on its main thread, a test on one of its own).
    static let namespaceFile = "/proc/thread-self/ns/net"

    /// Waits up to `seconds` for the lock.
    public init(wait seconds: Double) throws(HostError) {
        descriptor = open(Self.namespaceFile, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw HostError("cannot open \(Self.namespaceFile) to lock this namespace's rules", errno: errno) }
        let deadline = MonotonicClock.seconds() + seconds
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            guard code == EWOULDBLOCK || code == EINTR, MonotonicClock.seconds() < deadline else {
                close(descriptor)
                throw HostError(code == EWOULDBLOCK
                    ? "another meshcap run is changing this network namespace's rules and still holds its lock after \(seconds) s (--wait sets how long to wait); nothing was changed"
                    : "cannot lock this network namespace's rules", errno: code)
            }
            usleep(20_000)
        }
    }

    deinit { close(descriptor) }
}
