#if canImport(Glibc)
import Glibc
#endif
import MeshCapture

// glibc's sigtimedwait: Swift's Glibc module does not import it.
@_silgen_name("sigtimedwait") private func waitForSignal(_ set: UnsafePointer<sigset_t>, _ info: UnsafeMutableRawPointer?,
                                                         _ timeout: UnsafePointer<timespec>) -> Int32

/// The signals that stop meshcap (a service manager's TERM, Ctrl-C, a closed terminal's HUP,
/// QUIT) held back while it changes something that must not be left half done: the rules and
/// their journal (`HostSession`), or files being put in place (`TextFile`, `RuleFiles`: no
/// temporary file left beside the one replaced). What arrived meanwhile is taken when the work
/// is done, and ends the run once it has said what it did (`endIfOneArrived`, from `main`), as
/// the signal would have. XFSZ (a file over the size limit) is held too, so that the write fails
/// with EFBIG, is cleaned up and said, rather than killing meshcap mid-write. SIGKILL cannot be
/// held: the journal, and the next run's removal of stale temporary files, are what answer it.
///
/// Loaders meshcap starts meanwhile get no signal blocked (see `Command`): a SIGTERM sent to a
/// unit's whole group still stops an iptables-restore, whose table then stays as it was, and
/// meshcap puts the tables it had already changed back, as for any failed step.
public enum SignalDeferral {
    static let stopping = [SIGTERM, SIGINT, SIGHUP, SIGQUIT]
    static let held = stopping + [SIGXFSZ]

    /// The stop signals held back and taken, in order. Signals are the process's, so this is
    /// too; meshcap changes things on its main thread only, and reads this at the end of `main`.
    nonisolated(unsafe) public private(set) static var taken: [Int32] = []

    /// Runs `body` with those signals held; what arrived meanwhile is taken when it returns or
    /// throws (so that it does not end the process the moment they are let through again).
    /// Nests: an inner run takes what arrived during it, and the outer one's hold goes on.
    public static func run<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        var set = sigset_t(), previous = sigset_t()
        sigemptyset(&set)
        for signal in held { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, &previous)
        defer {
            var none = timespec(tv_sec: 0, tv_nsec: 0)
            while case let signal = waitForSignal(&set, nil, &none), signal > 0 {
                if stopping.contains(signal) { taken.append(signal) }
            }
            pthread_sigmask(SIG_SETMASK, &previous, nil)
        }
        return try body()
    }

    /// Ends the process as the first stop signal taken would have ended it, so a supervisor sees
    /// the signal it sent; nothing when none was taken.
    public static func endIfOneArrived(say: ([String]) -> Void) {
        guard let signal = taken.first else { return }
        say(["\(name(signal)) arrived while meshcap was changing the rules or writing a file: that was finished (or taken back) first"])
        Glibc.signal(signal, SIG_DFL)
        var only = sigset_t()
        sigemptyset(&only)
        sigaddset(&only, signal)
        pthread_sigmask(SIG_UNBLOCK, &only, nil)
        raise(signal)
        exit(128 + signal)
    }

    static func name(_ signal: Int32) -> String {
        [SIGTERM: "SIGTERM", SIGINT: "SIGINT", SIGHUP: "SIGHUP", SIGQUIT: "SIGQUIT"][signal] ?? "signal \(signal)"
    }
}
