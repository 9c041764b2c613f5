import IptablesBackend
import MeshCapture
import Testing
@testable import Verify

/// Problems from readings made of a plan's own rules, with chosen counters: each problem fires
/// when it should and not on the healthy hosts that look most like it.
@Suite struct VerdictTests {
    static func config(_ flags: [String]) throws -> InterceptConfig {
        try ConfigLoader.load(files: [], flags: flags + ["-u", "1337"], accounts: AccountDatabase(users: [:], groups: [:])).config
    }

    /// The iptables reading of `config`'s rules, read back as iptables-save would give them,
    /// each rule's packets from `count` (nil: the rule is not there).
    static func reading(_ config: InterceptConfig, ahead: [Ahead] = [], count: (TableKind, ChainName, Rule, Family) -> UInt64? = { _, _, _, _ in 0 }) -> CounterReading {
        var rules: [ObservedRule] = []
        for family in config.families.sorted() {
            for table in CapturePlan(config).ruleset(for: .xtables(family)).tables {
                for chain in table.chains {
                    for rule in chain.rules {
                        guard let packets = count(table.kind, chain.name, rule, family) else { continue }
                        rules.append(ObservedRule(family: family, table: table.kind.rawValue, chain: chain.name.description, tableKind: table.kind,
                                                  chainName: chain.name, owner: .meshcap, rule: IptablesRenderer.canonical(rule) { _, _ in nil },
                                                  text: "", packets: packets, bytes: packets * 60))
                    }
                }
            }
        }
        return CounterReading(source: "test", dialect: IptablesDialect(), rules: rules, chains: nil, ahead: ahead)
    }

    static func desired(_ config: InterceptConfig) -> DesiredState {
        DesiredState(rulesets: config.families.sorted().map { CapturePlan(config).ruleset(for: .xtables($0)) }, routing: []) { _, _ in nil }
    }

    static func kinds(_ report: VerifyReport) -> [Verdict.Kind] { report.verdicts.map(\.kind) }

    @Test func healthyRulesHaveNoProblems() throws {
        let config = try Self.config(["-i", "10.96.0.0/12", "-b", "8080"])
        #expect(VerifyReport(Self.reading(config), desired: Self.desired(config)).verdicts.isEmpty)
        #expect(VerifyReport(Self.reading(config), desired: nil).verdicts.isEmpty)
    }

    /// An inbound-only VM: every connection through OUTPUT is Envoy's passthrough to the app or
    /// the proxy's own; none to the service range. Nothing to complain about.
    @Test func passthroughAndTheProxysOwnTrafficAreNotMissedCaptures() throws {
        let config = try Self.config(["-i", "10.96.0.0/12", "-b", "8080"])
        let reading = Self.reading(config) { table, chain, rule, _ in
            switch (chain, rule.purpose) {
            case (.output, .entry?): 30
            case (_, .host(_, .passthrough)?) where table == .nat: 20
            case (_, .proxy(_, _, .bypass)?): 10
            default: 0
            }
        }
        #expect(!Self.kinds(VerifyReport(reading, desired: nil)).contains(.nothingRedirected))
    }

    @Test func connectionsPastEveryExclusionWithNoneRedirectedAreNamed() throws {
        let config = try Self.config(["-i", "10.96.0.0/12"])
        let reading = Self.reading(config) { _, chain, rule, _ in chain == .output && rule.purpose == .entry(.outbound) ? 7 : 0 }
        let report = VerifyReport(reading, desired: nil)
        #expect(report.verdicts.map(\.message) == ["7 connections left through OUTPUT past every exclusion, and none was redirected to the proxy: are the services' addresses in the captured ranges (ISTIO_SERVICE_CIDR)?"])
        // Handed to ISTIO_REDIRECT but not redirected: not TCP (doctor's own DNS questions with
        // DNS capture off, NTP), so no sign of a missed capture.
        let everything = try Self.config(["-i", "*"])
        let udp = Self.reading(everything) { _, chain, rule, _ in
            chain == .output && rule.purpose == .entry(.outbound) ? 2 : chain == .istioOutput && rule.target == .jump(.istioRedirect) ? 2 : 0
        }
        #expect(VerifyReport(udp, desired: nil).verdicts.isEmpty)
        // Without any range captured there is nothing to miss.
        let inboundOnly = try Self.config(["-b", "8080"])
        #expect(VerifyReport(Self.reading(inboundOnly) { _, chain, _, _ in chain == .output ? 7 : 0 }, desired: nil).verdicts.isEmpty)
    }

    @Test func aJumpAheadIsANoteAndATerminalRuleThatTookPacketsIsAProblem() throws {
        let config = try Self.config(["-i", "10.96.0.0/12"])
        let jump = Ahead(sentence: "iptables nat PREROUTING: `-A PREROUTING -j DOCKER` (it jumps to DOCKER) runs before meshcap's rules", packets: nil)
        let accept = Ahead(sentence: "iptables nat OUTPUT: `-A OUTPUT -j ACCEPT` (it ends with ACCEPT) runs before meshcap's rules", packets: 3)
        let report = VerifyReport(Self.reading(config, ahead: [jump, accept]), desired: nil)
        #expect(Self.kinds(report) == [.otherRulesAhead] && report.notes == [jump.sentence])
    }

    @Test func theIPv6JumpMissingAloneIsNamed() throws {
        let config = try Self.config(["-i", "10.96.0.0/12,fd00::/108", "--ipv6"])
        let reading = Self.reading(config) { _, chain, _, family in chain == .output && family == .ipv6 ? nil : 0 }
        let report = VerifyReport(reading, desired: nil)
        #expect(report.verdicts.map(\.message) == ["the jump from OUTPUT into ISTIO_OUTPUT (IPv6) is missing: no outbound traffic reaches meshcap's rules there"])
    }

    /// Envoy's own connection to the workload over lo goes OUTPUT → ISTIO_IN_REDIRECT, whose
    /// REDIRECT also counts the inbound connections: the hairpin is not one of them.
    @Test func theProxysHairpinIsNoInboundConnection() throws {
        let config = try Self.config(["-i", "10.96.0.0/12", "-b", "8080"])
        let reading = Self.reading(config) { table, chain, rule, _ in
            if chain == .istioOutput, rule.target == .jump(.istioInRedirect) { return 1 }
            if chain == .istioInRedirect { return 3 }
            if chain == .prerouting { return 5 }
            return 0
        }
        let report = VerifyReport(reading, desired: nil)
        // Two hairpin rules (uid and gid), one packet each: 3 − 2 came in.
        #expect(report.totals.first { $0.direction == .inbound }?.captured == 1)
    }

    @Test func theConfigsRulesInAnotherOrderAreDrift() throws {
        let config = try Self.config(["-i", "10.96.0.0/12", "-x", "10.96.0.1/32"])
        var reading = Self.reading(config)
        // Swap the exclusion and the capture in ISTIO_OUTPUT: the capture now takes 10.96.0.1 too.
        let places = reading.rules.indices.filter { reading.rules[$0].chainName == .istioOutput }
        var rules = reading.rules
        rules.swapAt(places[places.count - 1], places[places.count - 2])
        reading = CounterReading(source: "test", dialect: IptablesDialect(), rules: rules, chains: nil)
        let report = VerifyReport(reading, desired: Self.desired(config))
        #expect(report.verdicts.map(\.message) == ["the rules in test are not the config's: 0 of its rules are missing there, 0 rules there are not its own, 1 chain holds its rules in another order (`meshcap diff` shows them on a live host)"])
    }

    /// A probe that could try no path proves nothing, and says why; one that tried some paths is
    /// judged by those.
    @Test func aProbeThatTriedNoPathIsUnproven() throws {
        let config = try Self.config(["-i", "10.96.0.0/12", "-b", "8080"])
        let paths = ProbePath.paths(for: config, resolve: { _, _ in nil }, peerGateway: { _ in .v4(0xC000_0201) })
        #expect(paths.map(\.capturePort) == [15001, 15001, 15006])
        func report(_ results: [ProbeResult]) -> VerifyReport {
            var report = VerifyReport(Self.reading(config), desired: Self.desired(config))
            report.add(probes: results, notes: [])
            return report
        }
        let held = report(paths.map { ProbeResult(path: $0, skipped: .portTaken($0.capturePort, $0.proto)) })
        #expect(held.verdicts == [Verdict(kind: .probeUnproven, message: "none of the 3 probe paths could be tried, so the probes prove nothing: port 15001 is taken (2 paths), port 15006 is taken (1 path); is the proxy running? Probe before it starts, or stop it")])
        let mixed = report([ProbeResult(path: paths[0], skipped: .portTaken(15001, .tcp)), ProbeResult(path: paths[1], skipped: .notSent(paths[1].destination, "Network is unreachable")),
                            ProbeResult(path: paths[2], skipped: .noPeer)])
        #expect(mixed.verdicts.map(\.message) == ["none of the 3 probe paths could be tried, so the probes prove nothing: port 15001 is taken (1 path), could not be sent (1 path), no probe peer (1 path); is the proxy running? Probe before it starts, or stop it; outbound probes need a route to the included ranges and the DNS servers; the note says why the peer namespace could not be made"])
        // Some tried: those decide.
        let partly = report([ProbeResult(path: paths[0], skipped: .portTaken(15001, .tcp)), ProbeResult(path: paths[1], skipped: .portTaken(15001, .tcp)),
                             ProbeResult(path: paths[2], outcome: .passed, detail: "arrived on 15006 for 192.0.2.1:8080")])
        #expect(partly.healthy)
        #expect(report([]).healthy, "no probe asked for")
    }
}
