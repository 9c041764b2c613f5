/// The counters of live rules a rewrite keeps: each goes to the first equal rule written into
/// the same chain, oldest first, so only what a new config changes starts from zero (verify
/// reads these counters; a configuration-management run must not wipe them).
public struct CarriedCounters: Sendable {
    public struct Count: Sendable, Hashable {
        public let packets: UInt64
        public let bytes: UInt64
    }

    private var byChain: [String: [Rule: ArraySlice<Count>]] = [:]

    public init() {}

    /// A live rule of `chain` (any name that tells the chain apart, table included where needed).
    public mutating func remember(_ rule: Rule, in chain: String, packets: UInt64, bytes: UInt64) {
        guard packets != 0 || bytes != 0 else { return }
        byChain[chain, default: [:]][rule, default: []].append(Count(packets: packets, bytes: bytes))
    }

    /// The counts for a rule about to be written into `chain`, if an equal live rule left some.
    public mutating func take(_ rule: Rule, in chain: String) -> Count? {
        byChain[chain]?[rule]?.popFirst()
    }
}
