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
        /// How many times the firewall was read again because the ruleset changed under it.
        public let retries: Int

        public var changedNothing: Bool { firewall.isEmpty && routing.isEmpty }
    }

    public func apply(_ desired: DesiredState, dryRun: Bool) throws -> Outcome {
        var live = try firewall.observe()
        var changes = try firewall.changes(to: desired, from: live)
        let present = try routing.observe()
        let missing = desired.routing.filter { entry in !present.contains { $0.entry == entry } }
        let stale = present.filter { $0.tagged && !desired.routing.contains($0.entry) }
        let routingLines = missing.map(\.description) + stale.map { "\($0.entry.description.replacingOccurrences(of: " add ", with: " del "))" }
        if dryRun {
            return Outcome(changes: changes, routing: routingLines, ahead: live.ahead, retries: 0)
        }

        var added: [RoutingEntry] = []
        var retries = 0
        do {
            for entry in missing where try routing.add(entry) { added.append(entry) }
            while true {
                do {
                    if !changes.isEmpty { try firewall.commit(changes) }
                    break
                } catch is RulesetChanged where retries == 0 {
                    retries += 1
                    live = try firewall.observe()
                    changes = try firewall.changes(to: desired, from: live)
                } catch is RulesetChanged {
                    throw HostError("the ruleset changed while meshcap applied it, again after reading it anew (another program is writing nf_tables); nothing was changed")
                }
            }
        } catch {
            for entry in added.reversed() {
                _ = try? routing.remove(PolicyRouting.Observed(entry: entry, tagged: true))
            }
            throw error
        }
        for observed in stale { _ = try routing.remove(observed) }
        return Outcome(changes: changes, routing: routingLines, ahead: live.ahead, retries: retries)
    }

    /// Removes meshcap's rules and routing, and Istio's (its chains and jumps; and, when the
    /// config Istio applied is given, its other rules and routes of that config's shape).
    /// - Parameter routes: whether to clean the policy routing too (once per run, whatever the
    ///   number of firewalls cleaned).
    public func clean(recognising config: DesiredState?, dryRun: Bool, routes: Bool = true) throws -> Outcome {
        let live = try firewall.observe()
        let changes = try firewall.removal(from: live, recognising: config)
        let present = routes ? try routing.observe() : []
        let doomed = present.filter { $0.tagged || config?.routing.contains($0.entry) == true }
        let routingLines = doomed.map { $0.entry.description.replacingOccurrences(of: " add ", with: " del ") }
        if !dryRun {
            if !changes.isEmpty { try firewall.commit(changes) }
            for observed in doomed { _ = try routing.remove(observed) }
        }
        return Outcome(changes: changes, routing: routingLines, ahead: [], retries: 0)
    }
}
