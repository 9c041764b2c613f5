#if canImport(Glibc)
import Glibc
#endif
import HostOps
import Testing
import TestSupport

/// A signal that would stop meshcap while it changes something waits until the change is done,
/// and is taken (for `main` to end the run with, once it has said what it did).
@Suite struct SignalDeferralTests {
    @Test func aStopSignalWaitsForTheWorkAndIsTaken() {
        let before = SignalDeferral.taken.count
        var finished = false
        withSignalUnblocked(SIGHUP) {
            SignalDeferral.run {
                // raise() signals this thread, whose mask the hold set; a nested hold goes on holding.
                raise(SIGHUP)
                SignalDeferral.run { #expect(SignalDeferral.taken.count == before) }
                // Taken by the inner hold as it ended; the outer one still holds.
                #expect(SignalDeferral.taken.count == before + 1)
                finished = true
            }
        }
        #expect(finished)
        #expect(SignalDeferral.taken.dropFirst(before) == [SIGHUP])
        // Nothing is pending any more: unblocked, no SIGHUP arrives (it would end the test run).
        var pending = sigset_t()
        sigpending(&pending)
        #expect(sigismember(&pending, SIGHUP) == 0)
    }
}
