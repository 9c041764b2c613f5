import MeshCapture

/// apply and clean on a live host: the firewall through one backend, and the policy routing,
/// in the order that leaves no gap and undoes itself on failure.
///
/// apply: read; plan; add the routes the rules need (they only route marked packets, so adding
/// them first changes nothing until the rules mark); commit the rules (one transaction per
/// table; for nft one batch bound to the generation read, read again and retried once if the
/// ruleset changed in between); then remove meshcap's routes the config no longer needs. A
/// failed commit removes the routes this run added: what was in force stays in force.
public struct HostSession: Sendable {
    public let firewall: any FirewallHost
    public let routing: any RoutingHost

    public init(firewall: any FirewallHost, routing: any RoutingHost) {
        self.firewall = firewall
        self.routing = routing
    }

    /// What a run did or, with --dry-run, would do.
    public struct Outcome: Sendable {
        let changes: Changes
        /// Exactly what was (or would be) sent to the firewall; empty when nothing changes.
        public var firewallText: String { changes.text }
        /// One line per table changed.
        public var firewall: [String] { changes.summary }
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

    public func apply(_ desired: DesiredState, dryRun: Bool) throws -> Outcome {
        let live = try firewall.observe()
        let planned = try firewall.changes(to: desired, from: live)
        let present = try routing.observe()
        let missing = desired.routing.filter { entry in !present.contains { $0.entry == entry } }
        let stale = present.filter { $0.tagged && !desired.routing.contains($0.entry) }
        let routingLines = missing.map(\.description) + stale.map(\.entry.removal)
        if dryRun {
            return Outcome(changes: planned, routing: routingLines, ahead: live.ahead.map(\.sentence), warnings: [], retries: 0)
        }

        var added: [RoutingEntry] = []
        let committed: (changes: Changes, retries: Int)
        do {
            for entry in missing where try routing.add(entry) { added.append(entry) }
            committed = try commitRetryingOnce(planned) { try firewall.changes(to: desired, from: $0) }
        } catch {
            var failures: [String] = []
            for entry in added.reversed() {
                do { _ = try routing.remove(PolicyRouting.Observed(entry: entry, tagged: true)) } catch { failures.append("\(entry.removal): \(Self.describe(error))") }
            }
            guard !failures.isEmpty else { throw error }
            throw HostError("\(Self.describe(error)); taking back the routing this run added failed too (\(failures.joined(separator: "; "))), so it stays")
        }

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
        return Outcome(changes: committed.changes, routing: routingLines, ahead: live.ahead.map(\.sentence), warnings: warnings, retries: committed.retries)
    }

    /// Removes meshcap's rules from this firewall, and Istio's (its chains and jumps; and, when
    /// the config Istio applied is given, its other rules of that config's shape).
    public func clean(recognising config: DesiredState?, dryRun: Bool) throws -> Outcome {
        let live = try firewall.observe()
        let planned = try firewall.removal(from: live, recognising: config)
        guard !dryRun else { return Outcome(changes: planned, routing: [], ahead: [], warnings: [], retries: 0) }
        let committed = try commitRetryingOnce(planned) { try firewall.removal(from: $0, recognising: config) }
        return Outcome(changes: committed.changes, routing: [], ahead: [], warnings: [], retries: committed.retries)
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
    func commitRetryingOnce(_ first: Changes, plan: (LiveRules) throws -> Changes) throws -> (changes: Changes, retries: Int) {
        guard !first.isEmpty else { return (first, 0) }
        do {
            try firewall.commit(first)
            return (first, 0)
        } catch is RulesetChanged {
            let again = try plan(firewall.observe())
            if !again.isEmpty { try firewall.commit(again) }
            return (again, 1)
        }
    }

    static func describe(_ error: any Error) -> String {
        (error as? Failure)?.lines.joined(separator: "; ") ?? "\(error)"
    }
}
