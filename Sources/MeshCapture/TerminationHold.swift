#if canImport(Glibc)
import Glibc
#endif

/// Holds back the signals that stop meshcap (Ctrl-C, `kill`, a service manager's TERM, a closed
/// terminal's HUP) while files are being put in place, so that a run stopped half-way leaves no
/// temporary file beside the one it was replacing: a held signal arrives at `release()`, when
/// every temporary file is renamed into place or removed, and then ends meshcap as it would
/// have. XFSZ (a file over the size limit) is held too, so that the write fails with EFBIG and
/// is cleaned up. SIGKILL cannot be held; what it leaves, the next run removes
/// (`TextFile.writeBeside`).
///
/// meshcap runs on one thread, so the calling thread's mask is the process's.
public struct TerminationHold {
    private var previous = sigset_t()

    public init() {
        var held = sigset_t()
        sigemptyset(&held)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGXFSZ] { sigaddset(&held, signal) }
        sigprocmask(SIG_BLOCK, &held, &previous)
    }

    /// The mask as it was: a signal that came meanwhile is delivered now.
    public func release() {
        var previous = previous
        sigprocmask(SIG_SETMASK, &previous, nil)
    }
}
