import Foundation
import HostOps
import MeshCapture
import NftablesBackend
import Testing
import TestSupport

/// Read-back with counters: N real connections through a rule read back as N packets on it.
@Suite struct CounterTests {
    @Test(.needsRoot)
    func readBackCountsRealConnections() throws {
        let network = try TestNetwork()
        try network.serve(in: network.workload, port: 15001, name: "proxy-outbound")
        let config = try ConfigLoader.load(files: [], flags: ["-i", "\(TestNetwork.peerAddress)/32"],
                                           accounts: AccountDatabase(users: [:], groups: [:])).config
        let batch = try NetlinkBatch.replacing(with: CapturePlan(config).ruleset(for: .inet)) { _, _ in nil }
        try network.workload.inside { try NftApply.apply(batch) }

        let connections = 7
        for _ in 0..<connections {
            #expect(try network.connect(from: network.workload, to: TestNetwork.peerAddress, port: 8080).hasPrefix("proxy-outbound"))
        }
        let rules = try network.workload.inside { try RuleDump.snapshot(tables: [NftNames.table(.nat)]).rules }
        let redirect = rules.filter { $0.chain == "istio-redirect" }
        let include = rules.filter { $0.chain == "istio-output" && $0.rule?.target == .jump(.istioRedirect) }
        #expect(redirect.map(\.packets) == [UInt64(connections)])
        #expect(include.map(\.packets) == [UInt64(connections)])
        #expect(include.first?.rule == Rule(.destination(try Prefix.parse("198.51.100.2/32")), then: .jump(.istioRedirect)))
    }
}
