import HostOps
import MeshCapture
import Testing
import TestSupport

/// The order of apply and clean on a host, with a recording stand-in for the kernel.
@Suite struct HostSessionTests {
    let tproxy: DesiredState = {
        let config = try! ConfigLoader.load(files: [], flags: ["-m", "TPROXY", "-b", "*", "-u", "1337"], accounts: AccountDatabase(users: [:], groups: [:]),
                                            resolvConf: "/dev/null").config
        let plan = CapturePlan(config)
        return DesiredState(rulesets: [plan.ruleset(for: .inet)], routing: plan.routing) { _, _ in nil }
    }()

    @Test func routesComeFirstAndApplyingTwiceChangesNothing() throws {
        let host = RecordingHost()
        let session = HostSession(firewall: host, routing: host)
        let first = try session.apply(tproxy, dryRun: false)
        #expect(host.routingLog == ["add ip -4 rule add fwmark 1337 lookup 133", "add ip -4 route add local default dev lo table 133"])
        #expect(first.firewall.count == 1 && host.commits.count == 1)
        let second = try session.apply(tproxy, dryRun: false)
        #expect(second.changedNothing)
        #expect(host.commits.count == 1)
    }

    @Test func aRulesetChangedUnderTheApplyIsReadAgainOnce() throws {
        let host = RecordingHost()
        host.changedGenerations = 1
        let outcome = try HostSession(firewall: host, routing: host).apply(tproxy, dryRun: false)
        #expect(outcome.retries == 1)
        #expect(host.commits.count == 1)
    }

    @Test func twiceIsAFailureAndTheRoutesItAddedAreTakenBack() throws {
        let host = RecordingHost()
        host.changedGenerations = 2
        #expect(throws: RulesetChanged.self) { try HostSession(firewall: host, routing: host).apply(tproxy, dryRun: false) }
        #expect(RulesetChanged().exitStatus == .hostError)
        #expect(host.commits.isEmpty)
        #expect(host.routes.isEmpty, "routes added for rules that never came stayed behind")
    }

    /// Undoing can fail too: the error says so instead of claiming nothing changed.
    @Test func aFailedUndoIsSaid() throws {
        let host = RecordingHost()
        host.refusal = HostError("refused")
        host.routeRemovalRefusal = HostError("route removal refused")
        do {
            _ = try HostSession(firewall: host, routing: host).apply(tproxy, dryRun: false)
            Issue.record("a refused commit went through")
        } catch let error as HostError {
            #expect(error.description.hasPrefix("refused; taking back the routing this run added failed too (ip -4 route del local default dev lo table 133: route removal refused"), "\(error)")
        }
    }

    /// Once the rules are in force, a stale route that cannot be removed is a warning, and a
    /// kernel that dropped the ownership tag is said.
    @Test func afterTheCommitProblemsAreWarnings() throws {
        let host = RecordingHost()
        host.keepsTags = false
        host.routes = [PolicyRouting.Observed(entry: .markRule(.ipv4, mark: 7, table: 7), tagged: true)]
        host.routeRemovalRefusal = HostError("busy")
        let outcome = try HostSession(firewall: host, routing: host).apply(tproxy, dryRun: false)
        #expect(host.commits.count == 1)
        #expect(outcome.warnings.first == "the rules are applied, but ip -4 rule del fwmark 7 lookup 7 failed: busy")
        #expect(outcome.warnings.dropFirst().allSatisfy { $0.hasPrefix("this kernel keeps no protocol tag on `ip -4") })
        #expect(outcome.warnings.count == 3)
    }

    @Test func aRefusedCommitTakesBackOnlyWhatThisRunAdded() throws {
        let host = RecordingHost()
        let stale = PolicyRouting.Observed(entry: .markRule(.ipv4, mark: 7, table: 7), tagged: true)
        let theirs = PolicyRouting.Observed(entry: .markRule(.ipv4, mark: 1337, table: 133), tagged: false)
        host.routes = [stale, theirs]
        host.refusal = HostError("refused")
        #expect(throws: HostError.self) { try HostSession(firewall: host, routing: host).apply(tproxy, dryRun: false) }
        // The rule that was there already stays; the stale one too (the old rules are still in force).
        #expect(host.routes == [stale, theirs])
    }

    @Test func aDryRunSendsNothing() throws {
        let host = RecordingHost()
        let outcome = try HostSession(firewall: host, routing: host).apply(tproxy, dryRun: true)
        #expect(!outcome.firewall.isEmpty && outcome.routing.count == 2)
        #expect(host.commits.isEmpty && host.routingLog.isEmpty)
    }

    @Test func cleanRemovesMeshcapsRoutesAndTheConfigsButNoOthers() throws {
        let host = RecordingHost()
        let session = HostSession(firewall: host, routing: host)
        _ = try session.apply(tproxy, dryRun: false)
        let other = PolicyRouting.Observed(entry: .markRule(.ipv4, mark: 99, table: 99), tagged: false)
        host.routes.append(other)
        let outcome = try session.clean(recognising: nil, dryRun: false)
        #expect(outcome.firewall == ["removed 1 rulesets"])
        #expect(try session.cleanRouting(recognising: nil, dryRun: false).count == 2)
        #expect(host.routes == [other])
        #expect(host.installed.isEmpty)
        #expect(try session.clean(recognising: nil, dryRun: false).changedNothing)
        #expect(try session.cleanRouting(recognising: nil, dryRun: false).isEmpty)
    }
}
