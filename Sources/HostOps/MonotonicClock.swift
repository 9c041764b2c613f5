import Glibc

/// Seconds on a clock that only goes forward: for rates and timeouts, which a change of the
/// wall clock must not bend.
public enum MonotonicClock {
    public static func seconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
