import MeshCapture

/// One host's firewall through one dialect: it only reads and sends. What a reading means and
/// what takes it to a config is the dialect's (pure, in the backend modules), so `--dry-run`
/// prints exactly what `commit` would send, and a stand-in host that applies the same steps in
/// memory (`FakeIptables`, `FakeNft`) runs everything above the kernel as ordinary tests.
public protocol FirewallHost: Sendable {
    associatedtype Syntax: Dialect
    var dialect: Syntax { get }
    /// "nft", "iptables-nft", "iptables-legacy": what messages call it.
    var name: String { get }
    /// One reading of meshcap's rules and what runs beside them.
    func read() throws -> Syntax.Reading
    /// Sends the steps: all of them or, on failure, none (the previous rules in force again);
    /// `PartlyApplied` when a failure could not be taken back, `RulesetChanged` when the ruleset
    /// changed after it was read.
    func commit(_ changes: Changes<Syntax.Steps>) throws
    /// Zeroes the counters of meshcap's rules as read (and Istio's), and of no one else's;
    /// returns how many rules.
    func resetCounters(_ reading: Syntax.Reading) throws -> Int
    /// Whether tables the steps create stay after meshcap's rules are gone (iptables-nft's): the
    /// journal records them, and `deleteEmpty` removes them once they hold nothing.
    var keepsTablesItMakes: Bool { get }
    /// Deletes those of `tables` that hold nothing any more (no rule, no chain of anyone's, every
    /// policy accept), and only if nothing changed while they were checked; returns the ones deleted.
    func deleteEmpty(_ tables: [MadeTable]) throws -> [MadeTable]
    /// The Istio keys that choose this host (NATIVE_NFTABLES, FORCE_IPTABLES_BINARY), so that a
    /// config recorded with them is applied and read back through it.
    var choosingKeys: [(key: String, value: String)] { get }
    /// What the reader of a report should know about how `reading` was taken (iptables: a family
    /// read with the save tool, not from the kernel, and why).
    func notes(_ reading: Syntax.Reading) -> [String]
}

extension FirewallHost {
    public func notes(_ reading: Syntax.Reading) -> [String] { [] }

    public func observe() throws -> LiveRules<Syntax.Reading> { dialect.live(try read()) }

    /// A reading for code that does not know the dialect (verify, doctor, explain, diff): the
    /// rules as observed, and what can be done with exactly this reading.
    public func observation() throws -> Observation {
        let live = try observe()
        return Observation(rules: live.rules, ahead: live.ahead, chains: live.chains, notes: notes(live.reading),
                           resetCounters: { try resetCounters(live.reading) })
    }
}

/// One reading of a host through its dialect, the dialect's own form kept out of sight.
public struct Observation: Sendable {
    /// meshcap's rules, Istio's leftovers, and other software's at meshcap's hooks.
    public let rules: [ObservedRule]
    /// Other software's rules or chains that see packets before meshcap's.
    public let ahead: [Ahead]
    /// The chains meshcap's rules are in, and meshcap's own.
    public let chains: [ObservedChain]
    /// How the reading was taken, where a report should say (`FirewallHost.notes`).
    public let notes: [String]
    /// Zeroes exactly the counters read (`FirewallHost.resetCounters`).
    public let resetCounters: @Sendable () throws -> Int
}

/// What was (or would be) sent to one host, said without its dialect.
public struct Sent: Sendable {
    /// One line per table changed.
    public let summary: [String]
    public let isEmpty: Bool
    /// Exactly what is sent (`--dry-run`); made when asked for: printing a batch of 10,000
    /// rules costs more than sending it.
    public let text: @Sendable () -> String

    init<D: Dialect>(_ changes: Changes<D.Steps>, _ dialect: D) {
        summary = changes.summary
        isEmpty = dialect.isEmpty(changes.steps)
        text = { dialect.text(of: changes.steps) }
    }
}

/// A change failed after some of it was made, and taking that back failed too: the rules are
/// neither the old ones nor the new ones. The journal keeps saying so until a run completes it.
public struct PartlyApplied: Failure {
    public let error: HostError
    public init(_ error: HostError) { self.error = error }
    public var exitStatus: ExitStatus { .hostError }
    public var lines: [String] { error.lines }
}

/// The nft host refused a batch because the ruleset changed after it was read. `HostSession`
/// reads again and retries once; when it escapes, it is the second time.
public struct RulesetChanged: Failure {
    public init() {}
    public var exitStatus: ExitStatus { .hostError }
    public var lines: [String] {
        ["the nf_tables ruleset changed after meshcap read it, twice (another program is writing it); nothing was changed"]
    }
}
