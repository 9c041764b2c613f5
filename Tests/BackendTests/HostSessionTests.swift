import Foundation
import HostOps
import IptablesBackend
import MeshCapture
import Testing
import TestSupport

/// The order of apply and clean on a host, with the stateful stand-in for the kernel: the
/// dialect's real restore steps applied to tables in memory, read back as a host reads them.
@Suite final class HostSessionTests {
    let tproxy: DesiredState = {
        let config = try! ConfigLoader.load(files: [], flags: ["-m", "TPROXY", "-b", "*", "-u", "1337"], accounts: AccountDatabase(users: [:], groups: [:]),
                                            resolvConf: "/dev/null").config
        let plan = CapturePlan(config)
        return DesiredState(rulesets: [plan.ruleset(for: .xtables(.ipv4))], routing: plan.routing) { _, _ in nil }
    }()

    static let record = "PROXY_PORT='15001'\n"

    /// A journal of its own per test, in a directory that goes with the test.
    let journal = Journal(directory: FileManager.default.temporaryDirectory.appendingPathComponent("meshcap-journal-\(UUID())").path)

    deinit { try? FileManager.default.removeItem(atPath: journal.directory) }

    /// The firewall and the routing of one stand-in host.
    final class Host {
        let firewall = try! FakeIptables()
        let routing = try! FakeRouting()
    }

    func session(_ host: Host) -> HostSession { HostSession(firewall: host.firewall, routing: host.routing, journal: journal) }

    /// What is in force differs from the config: `diff`'s two sides.
    func drift(_ host: Host, _ desired: DesiredState) throws -> Bool {
        let dialect = host.firewall.dialect, live = try host.firewall.observe(), expected = dialect.expected(desired)
        return dialect.view(of: live.rules, chains: live.chains) != dialect.view(of: expected.rules, chains: expected.chains)
    }

    @Test func routesComeFirstAndApplyingTwiceChangesNothing() throws {
        let host = Host()
        let session = session(host)
        #expect(try drift(host, tproxy))
        let first = try session.apply(tproxy, record: Self.record, dryRun: false)
        #expect(host.routing.log == ["add ip -4 rule add fwmark 1337 lookup 133", "add ip -4 route add local default dev lo table 133"])
        #expect(first.firewall == ["IPv4 nat: 12 rules written", "IPv4 mangle: 14 rules written"], "\(first.firewall)")
        #expect(try !drift(host, tproxy), "what the apply left in force is not the config's")
        let committed = host.firewall.commits
        let second = try session.apply(tproxy, record: Self.record, dryRun: false)
        #expect(second.changedNothing, "a second apply of the same config changed \(second.firewall)")
        #expect(host.firewall.commits == committed)
    }

    @Test func aRulesetChangedUnderTheApplyIsReadAgainOnce() throws {
        let host = Host()
        host.firewall.rulesetChanges = 1
        let outcome = try session(host).apply(tproxy, record: Self.record, dryRun: false)
        #expect(outcome.retries == 1)
        #expect(host.firewall.commits.count == 2)
        #expect(try !drift(host, tproxy))
    }

    @Test func twiceIsAFailureAndTheRoutesItAddedAreTakenBack() throws {
        let host = Host()
        host.firewall.rulesetChanges = 2
        #expect(throws: RulesetChanged.self) { try session(host).apply(tproxy, record: Self.record, dryRun: false) }
        #expect(RulesetChanged().exitStatus == .hostError)
        #expect(host.firewall.commits.isEmpty && host.firewall.state.isEmpty)
        #expect(host.routing.routes.isEmpty, "routes added for rules that never came stayed behind")
    }

    /// Undoing can fail too: the error says so instead of claiming nothing changed, and the
    /// journal goes on saying the rules are half changed.
    @Test func aFailedUndoIsSaid() throws {
        let host = Host()
        host.firewall.refusal = HostError("refused")
        host.routing.removalRefusal = HostError("route removal refused")
        do {
            _ = try session(host).apply(tproxy, record: Self.record, dryRun: false)
            Issue.record("a refused commit went through")
        } catch let error as PartlyApplied {
            #expect(error.error.description.hasPrefix("refused; taking back the routing this run added failed too (ip -4 route del local default dev lo table 133: route removal refused"), "\(error)")
        }
        #expect(journal.intent()?.operation == .apply)
    }

    /// Once the rules are in force, a stale route that cannot be removed is a warning, and a
    /// kernel that dropped the ownership tag is said.
    @Test func afterTheCommitProblemsAreWarnings() throws {
        let host = Host()
        host.routing.keepsTags = false
        host.routing.routes = [PolicyRouting.Observed(entry: .markRule(.ipv4, mark: 7, table: 7), tagged: true)]
        host.routing.removalRefusal = HostError("busy")
        let outcome = try session(host).apply(tproxy, record: Self.record, dryRun: false)
        #expect(try !drift(host, tproxy))
        #expect(outcome.warnings.first == "the rules are applied, but ip -4 rule del fwmark 7 lookup 7 failed: busy")
        #expect(outcome.warnings.dropFirst().allSatisfy { $0.hasPrefix("this kernel keeps no protocol tag on `ip -4") })
        #expect(outcome.warnings.count == 3)
    }

    @Test func aRefusedCommitTakesBackOnlyWhatThisRunAdded() throws {
        let host = Host()
        let stale = PolicyRouting.Observed(entry: .markRule(.ipv4, mark: 7, table: 7), tagged: true)
        let theirs = PolicyRouting.Observed(entry: .markRule(.ipv4, mark: 1337, table: 133), tagged: false)
        host.routing.routes = [stale, theirs]
        host.firewall.refusal = HostError("refused")
        #expect(throws: HostError.self) { try session(host).apply(tproxy, record: Self.record, dryRun: false) }
        // The rule that was there already stays; the stale one too (the old rules are still in force).
        #expect(host.routing.routes == [stale, theirs])
        #expect(host.firewall.state.isEmpty)
    }

    @Test func aDryRunSendsNothing() throws {
        let host = Host()
        let outcome = try session(host).apply(tproxy, record: Self.record, dryRun: true)
        #expect(!outcome.firewall.isEmpty && outcome.routing.count == 2)
        #expect(outcome.firewallText.hasPrefix("# iptables-nft-restore --noflush --counters\n*"))
        #expect(host.firewall.commits.isEmpty && host.routing.log.isEmpty && host.firewall.state.isEmpty)
    }

    @Test func cleanRemovesMeshcapsRulesAndRoutesButNoOthers() throws {
        let host = Host()
        let session = session(host)
        // Another program's rule in a built-in chain meshcap writes to.
        host.firewall.state[.ipv4] = IptablesSave.parse("""
            *nat
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            [5:300] -A PREROUTING -s 192.0.2.0/24 -j RETURN
            COMMIT

            """, family: .ipv4)
        let foreign = FakeIptables.text(host.firewall.state[.ipv4]!)
        _ = try session.apply(tproxy, record: Self.record, dryRun: false)
        let other = PolicyRouting.Observed(entry: .markRule(.ipv4, mark: 99, table: 99), tagged: false)
        host.routing.routes.append(other)
        let outcome = try session.clean(recognising: nil, dryRun: false)
        #expect(outcome.firewall == ["IPv4 nat: 1 rule removed from built-in chains, 4 chains deleted",
                                     "IPv4 mangle: 6 rules removed from built-in chains, 3 chains deleted"], "\(outcome.firewall)")
        #expect(try session.cleanRouting(recognising: nil, dryRun: false).count == 2)
        #expect(host.routing.routes == [other])
        let left = FakeIptables.text(host.firewall.state[.ipv4]!)
        #expect(left.contains("[5:300] -A PREROUTING -s 192.0.2.0/24 -j RETURN"), "another program's rule did not survive clean:\n\(left)")
        #expect(foreign.contains("[5:300] -A PREROUTING"))
        #expect(!left.contains("ISTIO") && !left.contains("meshcap"), "\(left)")
        #expect(try session.clean(recognising: nil, dryRun: false).changedNothing)
        #expect(try session.cleanRouting(recognising: nil, dryRun: false).isEmpty)
    }

    /// An apply that ends leaves the config it applied recorded and no intent; one that changes
    /// nothing leaves the journal as it was.
    @Test func aCompletedApplyIsRecordedAndLeavesNoIntent() throws {
        let host = Host()
        _ = try session(host).apply(tproxy, record: Self.record, dryRun: false)
        #expect(journal.intent() == nil && journal.target == nil)
        #expect(try String(contentsOfFile: try #require(journal.applied), encoding: .utf8) == Self.record)
        _ = try session(host).apply(tproxy, record: "PROXY_PORT='15002'\n", dryRun: false)
        #expect(try String(contentsOfFile: try #require(journal.applied), encoding: .utf8) == "PROXY_PORT='15002'\n",
                "an apply that changed no rule did not record the config it found in force")
    }

    /// A refused commit changed nothing: no intent stays, the record of the apply before stays.
    @Test func aRefusedApplyLeavesTheJournalAsItWas() throws {
        let host = Host()
        _ = try session(host).apply(tproxy, record: Self.record, dryRun: false)
        _ = try session(host).clean(recognising: nil, dryRun: false)
        host.firewall.refusal = HostError("refused")
        #expect(throws: HostError.self) { try session(host).apply(tproxy, record: "PROXY_PORT='1'\n", dryRun: false) }
        #expect(journal.intent() == nil && journal.target == nil)
        #expect(try String(contentsOfFile: try #require(journal.applied), encoding: .utf8) == Self.record)
    }

    /// A failure that could not be taken back, or that came after a change was in force, leaves
    /// the intent: the next verify says the rules are half changed.
    @Test func aFailureAfterAChangeLeavesTheIntent() throws {
        let host = Host()
        #expect(throws: PartlyApplied.self) {
            try session(host).journaled(.apply, target: Self.record) { _ in throw PartlyApplied(HostError("half")) }
        }
        #expect(journal.intent()?.operation == .apply && journal.target != nil)
        #expect(throws: HostError.self) {
            try session(host).journaled(.clean) { changed in
                changed = true
                throw HostError("the second table")
            }
        }
        #expect(journal.intent()?.operation == .clean)
        // A run that fails before changing anything keeps the earlier intent: the half is still there.
        host.firewall.refusal = HostError("refused")
        #expect(throws: HostError.self) { try session(host).apply(tproxy, record: Self.record, dryRun: false) }
        #expect(journal.intent() != nil)
        host.firewall.refusal = nil
        _ = try session(host).apply(tproxy, record: Self.record, dryRun: false)
        #expect(journal.intent() == nil, "an apply that ended left the intent of the interrupted one")
    }

    /// SIGTERM while the rules change waits until the journal is closed, and is kept for `main`.
    @Test func aStopSignalWaitsForTheChangeToEnd() throws {
        let host = Host()
        let before = SignalDeferral.taken.count
        var finished = false
        try withSignalUnblocked(SIGTERM) {
            try session(host).journaled(.apply, target: Self.record) { changed in
                raise(SIGTERM)
                changed = true
                finished = true
            }
        }
        #expect(finished && journal.intent() == nil)
        #expect(SignalDeferral.taken.dropFirst(before).contains(SIGTERM))
    }

    /// A run killed after it wrote its target but before its intent changed nothing: its target
    /// is not what a plain apply completes, nor what verify compares with.
    @Test func aTargetWithoutItsIntentIsNoTarget() throws {
        try journal.begin(.apply, backend: "nft", target: Self.record, making: [])
        #expect(journal.target != nil)
        #expect(unlink(journal.directory + "/intent") == 0)
        #expect(journal.target == nil && journal.intent() == nil)
    }
}
