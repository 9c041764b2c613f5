import HostOps
import MeshCapture

/// A firewall and a routing table that live in memory and record what they were asked, standing
/// in for the kernel in the tests of `HostSession` (retries, routing order, undo on failure).
/// It can be told to fail: to report a changed ruleset some number of times, or to refuse a commit.
public final class RecordingHost: FirewallHost, RoutingHost, @unchecked Sendable {
    /// What is "in force": one line per ruleset of the last committed state.
    public private(set) var installed: [String] = []
    public private(set) var commits: [String] = []
    public var routes: [PolicyRouting.Observed] = []
    public private(set) var routingLog: [String] = []
    /// How many commits report that the ruleset changed under them before one goes through.
    public var changedGenerations = 0
    /// A commit fails with this (once the generation changes are used up).
    public var refusal: (any Error)?
    /// Removing a route fails with this.
    public var routeRemovalRefusal: (any Error)?
    /// Like a kernel older than the routing protocol attributes: entries are kept, their tag not.
    public var keepsTags = true

    public init() {}

    public var name: String { "recording" }

    static func lines(_ desired: DesiredState) -> [String] {
        desired.rulesets.map { "\($0.layout): \($0.ruleCount) rules" }
    }

    public func observe() throws -> LiveRules { .recorded() }

    public func changes(to desired: DesiredState, from live: LiveRules) throws -> Changes {
        let wanted = Self.lines(desired)
        return .recorded(text: wanted.joined(separator: "\n"), summary: wanted == installed ? [] : wanted)
    }

    public func removal(from live: LiveRules, recognising: DesiredState?) throws -> Changes {
        .recorded(text: installed.isEmpty ? "" : "remove", summary: installed.isEmpty ? [] : ["removed \(installed.count) rulesets"])
    }

    public func commit(_ changes: Changes) throws {
        if changedGenerations > 0 {
            changedGenerations -= 1
            throw RulesetChanged()
        }
        if let refusal { throw refusal }
        commits.append(changes.text)
        installed = changes.text == "remove" ? [] : changes.text.split(separator: "\n").map(String.init)
    }

    /// Nothing here makes tables of its own.
    public func deleteEmpty(_ tables: [MadeTable]) throws -> [MadeTable] { [] }
    public var choosingKeys: [(key: String, value: String)] { [] }

    /// Nothing here counts packets.
    public func resetCounters(_ live: LiveRules) throws -> Int { 0 }

    public func view(of live: LiveRules) -> String { installed.joined(separator: "\n") }
    public func view(of desired: DesiredState) -> String { Self.lines(desired).joined(separator: "\n") }

    public func observe() throws -> [PolicyRouting.Observed] { routes }

    public func add(_ entry: RoutingEntry) throws -> Bool {
        routingLog.append("add \(entry)")
        guard !routes.contains(where: { $0.entry == entry }) else { return false }
        routes.append(PolicyRouting.Observed(entry: entry, tagged: keepsTags))
        return true
    }

    public func remove(_ observed: PolicyRouting.Observed) throws -> Bool {
        routingLog.append("remove \(observed.entry)")
        if let routeRemovalRefusal { throw routeRemovalRefusal }
        guard let index = routes.firstIndex(where: { $0.entry == observed.entry }) else { return false }
        routes.remove(at: index)
        return true
    }
}
