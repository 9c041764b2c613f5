#if canImport(Glibc)
import Glibc
#endif
import Testing
import MeshCapture

/// Hangups seen by the handler below; a C signal handler can capture nothing.
nonisolated(unsafe) private var hangups = 0

/// A signal that would stop meshcap while it puts files in place waits for the release.
@Suite struct TerminationHoldTests {
    @Test func aSignalArrivesAtTheReleaseNotBefore() {
        let previous = signal(SIGHUP) { _ in hangups += 1 }
        defer { signal(SIGHUP, previous) }
        // The test runs on a worker thread, which Dispatch starts with signals blocked.
        var hangup = sigset_t(), workerMask = sigset_t()
        sigemptyset(&hangup)
        sigaddset(&hangup, SIGHUP)
        pthread_sigmask(SIG_UNBLOCK, &hangup, &workerMask)
        defer { pthread_sigmask(SIG_SETMASK, &workerMask, nil) }
        let hold = TerminationHold()
        // raise() signals this thread, whose mask the hold set.
        raise(SIGHUP)
        #expect(hangups == 0)
        hold.release()
        #expect(hangups == 1)
    }
}
