import Foundation

/// SplitMix64: a generator that is reproducible from one number. Each run takes its seed from
/// MESHCAP_SEED or picks one and names it in every failure, so a failing case is re-run with
/// `MESHCAP_SEED=<seed> swift test --filter ...`.
public struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    public static let seed: UInt64 = ProcessInfo.processInfo.environment["MESHCAP_SEED"].flatMap { UInt64($0) }
        ?? UInt64.random(in: 1...UInt64.max)

    /// One generator per test, derived from the run's seed and the test's name, so tests do not
    /// shift each other's streams.
    public static func forTest(_ name: String) -> SeededRandom {
        SeededRandom(seed: name.utf8.reduce(seed) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 })
    }
}
