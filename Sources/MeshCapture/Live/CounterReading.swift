/// Counters as read, from a live host or a saved dump: the rules (meshcap's, Istio's and other
/// software's in the same chains), and what else bears on whether capture works.
public struct CounterReading: Sendable {
    /// What was read, as the report names it: "nft", "iptables-nft", "iptables-save -c (vm1.txt)".
    public let source: String
    public let rules: [ObservedRule]
    /// meshcap's chains and the built-in ones its rules are in; nil for a reading made of rules
    /// alone (as tests make them): then chains are not compared.
    public let chains: [ObservedChain]?
    /// The syntax the rules were read in: the config's rules are compared in its form.
    public let dialect: any Dialect
    /// Other programs' rules or chains that see packets first.
    public let ahead: [Ahead]
    /// Capture rules in another backend or iptables variant, one sentence each.
    public let elsewhere: [String]
    /// What the reader of the report should know about the reading itself (counts rounded).
    public let notes: [String]
    public let precision: Precision
    /// The apply or clean the host's journal says did not end ("an apply with nft (meshcap pid
    /// 1234, started ...)"), and the command that completes it; nil for a saved dump, or when
    /// every one ended.
    public let interrupted: (operation: String, fix: String)?
    /// Why the last apply failed (it was taken back, so the rules are those from before it); nil
    /// for a saved dump, or when the last apply that ended did not fail.
    public let failedApply: String?

    /// How much of each rule the reading saw.
    public enum Precision: Sendable {
        /// Every rule as the kernel holds it (or as iptables prints it: it leaves nothing out).
        case exact
        /// As `nft list ruleset` prints it: without the `meta l4proto` checks a later port match
        /// depends on (see `RuleDecoder.listed`); the config's rules are compared in that form.
        case nftListing
    }

    public init(source: String, dialect: any Dialect, rules: [ObservedRule], chains: [ObservedChain]?, ahead: [Ahead] = [], elsewhere: [String] = [],
                notes: [String] = [], precision: Precision = .exact, interrupted: (operation: String, fix: String)? = nil, failedApply: String? = nil) {
        self.dialect = dialect
        self.chains = chains
        self.interrupted = interrupted
        self.failedApply = failedApply
        self.source = source
        self.rules = rules
        self.ahead = ahead
        self.elsewhere = elsewhere
        self.notes = notes
        self.precision = precision
    }
}
