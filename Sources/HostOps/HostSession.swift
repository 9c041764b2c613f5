import MeshCapture

/// apply and clean on a live host: the firewall through one backend, and the policy routing,
/// in the order that leaves no gap and undoes itself on failure, journaled so that a run that is
/// killed half-way is noticed and completed by the next one.
///
/// apply: read; plan; journal the intent (and the config it puts in force); add the routes the
/// rules need (they only route marked packets, so adding them first changes nothing until the
/// rules mark); commit the rules (one transaction per table, tables that take up capture first;
/// for nft one batch bound to the generation read, read again and retried once if the ruleset
/// changed in between); then remove meshcap's routes the config no longer needs and the tables
/// iptables-nft made that hold nothing now; close the journal. A failed commit removes the routes
/// this run added: what was in force stays in force, and the journal says nothing was left half.
/// SIGTERM and the other stop signals wait until the journal is closed (`SignalDeferral`).
public struct HostSession: Sendable {
    public let firewall: any FirewallHost
    public let routing: any RoutingHost
    public let journal: Journal

    public init(firewall: any FirewallHost, routing: any RoutingHost, journal: Journal) {
        self.firewall = firewall
        self.routing = routing
        self.journal = journal
    }

    /// What a run did or, with --dry-run, would do.
    public struct Outcome: Sendable {
        let changes: Sent
        /// The capture removed from other backends after this one's was in force (see `apply`).
        var moved: [(host: String, changes: Sent)] = []
        /// Exactly what was (or would be) sent to the firewall, then to the backends the capture
        /// moved from; empty when nothing changes.
        public var firewallText: String {
            changes.text() + moved.filter { !$0.changes.isEmpty }.map { "# then, removing the capture from \($0.host):\n" + $0.changes.text() }.joined()
        }
        /// One line per table changed.
        public var firewall: [String] {
            changes.summary + moved.flatMap { move in move.changes.summary.map { "\(move.host): \($0) (the capture moved from there)" } }
        }
        /// One line per routing entry added or removed, as `ip` would be told.
        public let routing: [String]
        /// Other software's rules that see packets before meshcap's.
        public let ahead: [String]
        /// What went wrong after the rules were in force, or what clean cannot promise.
        public let warnings: [String]
        /// How many times the firewall was read again because the ruleset changed under it.
        public let retries: Int

        public var changedNothing: Bool { firewall.isEmpty && routing.isEmpty }
    }

    /// - Parameters:
    ///   - record: the config as `Journal.record` writes it: what the journal says is being put
    ///     in force, and then is.
    ///   - moving: other backends holding capture rules (meshcap's, or Istio's): their capture
    ///     is removed once this one's is in force, in the same journaled run, so the capture
    ///     moves without a moment of none, and never stays in two places (packets captured twice).
    ///   - recognising: the config in every layout, for recognising Istio's rules of its shape
    ///     in the backends the capture moves from.
    public func apply(_ desired: DesiredState, record: String, moving others: [any FirewallHost] = [],
                      recognising: DesiredState? = nil, dryRun: Bool) throws -> Outcome {
        try apply(through: firewall, desired, record: record, moving: others, recognising: recognising, dryRun: dryRun)
    }

    /// `apply` with the firewall's dialect known, so its reading and steps keep their types.
    func apply<Host: FirewallHost>(through firewall: Host, _ desired: DesiredState, record: String, moving others: [any FirewallHost],
                                   recognising: DesiredState?, dryRun: Bool) throws -> Outcome {
        let live = try firewall.observe()
        let planned = try firewall.dialect.changes(to: desired, from: live.reading)
        let present = try routing.observe()
        let missing = desired.routing.filter { entry in !present.contains { $0.entry == entry } }
        let stale = present.filter { $0.tagged && !desired.routing.contains($0.entry) }
        let routingLines = missing.map(\.description) + stale.map(\.entry.removal)
        let ahead = live.ahead.map(\.sentence)
        let removals = try others.map { other in (host: other.name, changes: try Self.removal(other, recognising: recognising)) }
        if dryRun {
            return Outcome(changes: Sent(planned, firewall.dialect), moved: removals, routing: routingLines, ahead: ahead, warnings: [], retries: 0)
        }
        let unchanged = firewall.dialect.isEmpty(planned.steps)
        if unchanged && missing.isEmpty && stale.isEmpty && removals.allSatisfy(\.changes.isEmpty) && journal.intent() == nil && journal.failure == nil {
            // Nothing to change: only the record, if it is not this config's yet (rules applied
            // by an earlier meshcap, or by hand with the same result).
            try journal.record(record)
            return Outcome(changes: Sent(planned, firewall.dialect), routing: [], ahead: ahead, warnings: [], retries: 0)
        }

        return try journaled(.apply, target: record, making: firewall.keepsTablesItMakes ? planned.making : []) { changed in
            var added: [RoutingEntry] = []
            let committed: (changes: Sent, retries: Int)
            do {
                for entry in missing where try routing.add(entry) { added.append(entry) }
                committed = try Self.commitRetryingOnce(planned, through: firewall) { try firewall.dialect.changes(to: desired, from: $0) }
            } catch {
                var failures: [String] = []
                for entry in added.reversed() {
                    do { _ = try routing.remove(PolicyRouting.Observed(entry: entry, tagged: true)) } catch { failures.append("\(entry.removal): \(Self.describe(error))") }
                }
                guard !failures.isEmpty else { throw error }
                throw PartlyApplied(HostError("\(Self.describe(error)); taking back the routing this run added failed too (\(failures.joined(separator: "; "))), so it stays"))
            }
            changed = true

            // The rules are in force now: what fails from here on is said, not thrown as if nothing had happened.
            var warnings: [String] = []
            for observed in stale {
                do { _ = try routing.remove(observed) } catch { warnings.append("the rules are applied, but \(observed.entry.removal) failed: \(Self.describe(error))") }
            }
            // A kernel older than the protocol attributes (IFA_PROTO: 5.18) takes the entry and drops the tag.
            if !added.isEmpty, let afterwards = try? routing.observe() {
                for entry in added where afterwards.contains(where: { $0.entry == entry && !$0.tagged }) {
                    warnings.append("this kernel keeps no protocol tag on `\(entry)`: meshcap cannot tell it is its own, so clean and a later apply leave it unless given this config")
                }
            }
            warnings += deleteEmptyMadeTables()
            // Then out of the other backends: read again, as a clean reads (a failure here leaves
            // the journal saying the move is half done).
            let moved = try others.map { other in
                (host: other.name, changes: try HostSession(firewall: other, routing: routing, journal: journal).clean(recognising: recognising, dryRun: false).changes)
            }
            return Outcome(changes: committed.changes, moved: moved, routing: routingLines, ahead: ahead, warnings: warnings, retries: committed.retries)
        }
    }

    /// Removes meshcap's rules from this firewall, and Istio's (its chains and jumps; and, when
    /// the config Istio applied is given, its other rules of that config's shape). Journaled by
    /// the caller (`journaled`), which may clean several firewalls and the routing in one go.
    public func clean(recognising config: DesiredState?, dryRun: Bool) throws -> Outcome {
        try clean(through: firewall, recognising: config, dryRun: dryRun)
    }

    func clean<Host: FirewallHost>(through firewall: Host, recognising config: DesiredState?, dryRun: Bool) throws -> Outcome {
        let planned = try firewall.dialect.removal(from: firewall.read(), recognising: config)
        guard !dryRun else { return Outcome(changes: Sent(planned, firewall.dialect), routing: [], ahead: [], warnings: [], retries: 0) }
        let committed = try Self.commitRetryingOnce(planned, through: firewall) { try firewall.dialect.removal(from: $0, recognising: config) }
        return Outcome(changes: committed.changes, routing: [], ahead: [], warnings: deleteEmptyMadeTables(), retries: committed.retries)
    }

    /// What removing meshcap's rules from `host` would send.
    static func removal<Host: FirewallHost>(_ host: Host, recognising config: DesiredState?) throws -> Sent {
        Sent(try host.dialect.removal(from: host.read(), recognising: config), host.dialect)
    }

    /// The tables iptables-nft made for meshcap that hold nothing now, deleted and forgotten. A
    /// failure is a warning: an empty table changes no packet's fate, and the next run tries again.
    func deleteEmptyMadeTables() -> [String] {
        do {
            try journal.forget(try firewall.deleteEmpty(journal.made))
            return []
        } catch {
            return ["the empty tables iptables-nft made for meshcap's rules stay for now: \(Self.describe(error))"]
        }
    }

    /// Runs the changes of one operation between an intent written before the first and removed
    /// after the last, with the stop signals held back until then (`SignalDeferral`). `body` sets its
    /// argument once a change is in force: a failure after that leaves the journal saying the
    /// rules are half changed, as does `PartlyApplied`; one before it leaves the rules as they
    /// were, and the journal as it was.
    ///
    /// - Parameters:
    ///   - target: an apply's config record (see `Journal.record`).
    ///   - forgetting: a clean that removes the recorded config's rules.
    public func journaled<Result>(_ operation: Journal.Intent.Operation, backend: String? = nil, target: String? = nil,
                                  making: [MadeTable] = [], forgetting: Bool = false,
                                  _ body: (inout Bool) throws -> Result) throws -> Result {
        try SignalDeferral.run {
            let earlier = journal.intent()
            try journal.begin(operation, backend: backend ?? firewall.name, target: target, making: making)
            var changed = false
            do {
                let result = try body(&changed)
                try journal.complete(operation, forgetting: forgetting)
                return result
            } catch let error as PartlyApplied {
                throw error
            } catch {
                if !changed { journal.abandon(earlier: earlier, failure: operation == .apply ? Self.describe(error) : nil) }
                throw error
            }
        }
    }

    /// Removes meshcap's policy routing (and the config's shape of it, when given): the lines
    /// say what was (or would be) removed.
    public func cleanRouting(recognising config: DesiredState?, dryRun: Bool) throws -> [String] {
        let doomed = try routing.observe().filter { $0.tagged || config?.routing.contains($0.entry) == true }
        if !dryRun {
            for observed in doomed { _ = try routing.remove(observed) }
        }
        return doomed.map(\.entry.removal)
    }

    /// Commits; if the nft ruleset changed after it was read, reads again, plans again and
    /// commits once more; a second change is a failure with nothing changed.
    static func commitRetryingOnce<Host: FirewallHost>(_ first: Changes<Host.Syntax.Steps>, through firewall: Host,
                                                         plan: (Host.Syntax.Reading) throws -> Changes<Host.Syntax.Steps>) throws -> (changes: Sent, retries: Int) {
        guard !firewall.dialect.isEmpty(first.steps) else { return (Sent(first, firewall.dialect), 0) }
        do {
            try firewall.commit(first)
            return (Sent(first, firewall.dialect), 0)
        } catch is RulesetChanged {
            let again = try plan(firewall.read())
            if !firewall.dialect.isEmpty(again.steps) { try firewall.commit(again) }
            return (Sent(again, firewall.dialect), 1)
        }
    }

    static func describe(_ error: any Error) -> String {
        (error as? Failure)?.lines.joined(separator: "; ") ?? "\(error)"
    }
}
