import Foundation
import HostOps
import MeshCapture
import NftablesBackend
import Testing
import TestSupport

/// A dump taken while another writer changes the ruleset is retried until it is consistent:
/// it shows the ruleset before the change or after it, never a mix.
@Suite struct DumpConsistencyTests {
    @Test(.needsRoot)
    func dumpsAreConsistentWhileTheRulesetChanges() throws {
        let ns = try Namespace("churn")
        // 10,000 rules: a dump of many messages, long enough for a change to land in the middle.
        let excluded = (0..<10_000).map { "100.\(64 + $0 / 256).\($0 % 256).0/25" }.joined(separator: ",")
        let config = try ConfigLoader.load(files: [], flags: ["-i", "10.96.0.0/12", "-x", excluded, "--layout", "istio"],
                                           accounts: AccountDatabase(users: [:], groups: [:])).config
        let batch = try NetlinkBatch.replacing(with: CapturePlan(config).ruleset(for: .inet)) { _, _ in nil }
        try ns.inside { try NftApply.apply(batch) }
        let table = NftNames.table(.nat)
        let quiet = try ns.inside { try RuleDump.snapshot(tables: [table]).rules }

        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        writer.arguments = ["ip", "netns", "exec", ns.name, "python3", TestNetwork.probe, "churn", table, "output", "60"]
        try writer.run()
        defer {
            kill(writer.processIdentifier, SIGKILL)
            writer.waitUntilExit()
        }

        var interruptions = 0
        for _ in 0..<15 {
            let snapshot = try ns.inside { try RuleDump.snapshot(tables: [table]) }
            interruptions += snapshot.interruptions
            let output = snapshot.rules.filter { $0.chain == "output" }.count
            #expect(output == 1 || output == 2, "output chain has \(output) rules")
            #expect(snapshot.rules.count == quiet.count + output - 1)
            #expect(Set(snapshot.rules.map(\.handle)).count == snapshot.rules.count, "a handle was read twice")
            #expect(snapshot.rules.filter { $0.chain == "istio-output" }.map(\.rule) == quiet.filter { $0.chain == "istio-output" }.map(\.rule))
        }
        print("dump consistency: 15 reads of \(quiet.count) rules under churn, \(interruptions) interrupted dumps retried")
        #expect(interruptions > 0, "the writer never interrupted a dump: the retry path was not exercised")
    }
}
