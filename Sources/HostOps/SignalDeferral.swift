#if canImport(Glibc)
import Glibc
#endif

// glibc's sigtimedwait: Swift's Glibc module does not import it.
@_silgen_name("sigtimedwait") private func waitForSignal(_ set: UnsafePointer<sigset_t>, _ info: UnsafeMutableRawPointer?,
                                                         _ timeout: UnsafePointer<timespec>) -> Int32

/// SIGTERM (systemd stopping the unit), SIGINT (Ctrl-C) and SIGHUP (a closed terminal) held back
/// while the rules are being changed, so a run asked to stop finishes the change it is making
/// and its journal instead of leaving half of it; it then ends as the signal asked, once it has
/// said what it did. SIGKILL cannot be held back: the journal is what tells of that.
///
/// Loaders meshcap starts meanwhile get no signal blocked (see `Command`): a SIGTERM sent to the
/// whole unit still stops an iptables-restore, whose table then stays as it was, and meshcap
/// puts the tables it had already changed back, as for any failed step.
public enum SignalDeferral {
    static let deferred = [SIGTERM, SIGINT, SIGHUP]

    /// The first signal held back and taken: signals are the process's, so this is too. Written
    /// by the main thread only (which changes the rules), read by it at the end of `main`.
    nonisolated(unsafe) public private(set) static var arrived: Int32?

    /// Runs `body` with those signals held. What arrived meanwhile is taken (so it does not end
    /// the process the moment they are let through again) and kept in `arrived`.
    public static func run<Result>(_ body: () throws -> Result) rethrows -> Result {
        var held = sigset_t(), previous = sigset_t()
        sigemptyset(&held)
        for signal in deferred { sigaddset(&held, signal) }
        pthread_sigmask(SIG_BLOCK, &held, &previous)
        defer {
            var none = timespec(tv_sec: 0, tv_nsec: 0)
            while case let signal = waitForSignal(&held, nil, &none), signal > 0 { arrived = arrived ?? signal }
            pthread_sigmask(SIG_SETMASK, &previous, nil)
        }
        return try body()
    }

    /// Ends the process as the held-back signal would have ended it, so a supervisor sees the
    /// signal it sent; nothing when none arrived.
    public static func endIfOneArrived(say: ([String]) -> Void) {
        guard let signal = arrived else { return }
        say(["\(name(signal)) arrived while the rules were being changed: the change was finished (or taken back) first"])
        Glibc.signal(signal, SIG_DFL)
        var only = sigset_t()
        sigemptyset(&only)
        sigaddset(&only, signal)
        pthread_sigmask(SIG_UNBLOCK, &only, nil)
        raise(signal)
        exit(128 + signal)
    }

    static func name(_ signal: Int32) -> String {
        [SIGTERM: "SIGTERM", SIGINT: "SIGINT", SIGHUP: "SIGHUP"][signal] ?? "signal \(signal)"
    }
}
