import Testing
@testable import MeshCapture
import TestSupport

/// `--log` over random configs (seeded): taking the log rules out gives exactly the ruleset
/// without `--log`, and each log rule sits right before the rule whose decision it names, with
/// that rule's matches (plus `ct state new` outside nat) and the rate limit.
@Suite struct LoggingPlanTests {
    @Test func logRulesStandRightBeforeTheirDecisions() throws {
        var generator = ConfigGenerator(random: .forTest(#function))
        var logged = 0
        for round in 0..<200 {
            let lines = generator.entries().filter { !$0.written.hasPrefix("MESHCAP_LOG") }.map { "\($0.written)=\($0.value)" }
            let plain = try load([lines.joined(separator: "\n")]).config
            var config = plain
            config.logPrefix = .some("web-1")
            config.logGroup = round % 2 == 0 ? nil : 9
            let context = "seed \(SeededRandom.seed), round \(round):\n\(lines.joined(separator: "\n"))"
            for layout in [Layout.inet] + plain.families.sorted().map(Layout.xtables) {
                let without = CapturePlan(plain).ruleset(for: layout), with = CapturePlan(config).ruleset(for: layout)
                let stripped = Ruleset(layout: layout, tables: with.tables.map { table in
                    Table(kind: table.kind, chains: table.chains.map { Chain(name: $0.name, rules: $0.rules.filter { !$0.isLog }) })
                })
                #expect(stripped == without, "\(context)")
                for table in with.tables {
                    for chain in table.chains {
                        for (index, rule) in chain.rules.enumerated() where rule.isLog {
                            logged += 1
                            let next = chain.rules[index + 1], decision = next.purpose?.decision
                            // The matches of the rule it logs, TCP where only TCP is captured, and a
                            // new connection where every packet passes.
                            let redirects = [Target.jump(.istioRedirect), .jump(.istioInRedirect)].contains(next.target)
                            let tcp: [Match] = redirects && !next.matches.contains { $0.impliedProtocol != nil } ? [.l4proto(.tcp)] : []
                            let new: [Match] = table.kind == .nat || next.matches.contains { if case .conntrackState = $0 { true } else { false } } ? [] : [.conntrackState([.new])]
                            #expect(rule.matches == next.matches + tcp + new + [.rateLimit(perSecond: 10)], "\(context)\n\(rule)\n\(next)")
                            let tag = "web-1 \(decision?.direction == .inbound ? "in" : "out") \(decision.map { $0.action.rawValue } ?? "?"): "
                            #expect(rule.target == .log(prefix: tag, group: config.logGroup), "\(context)\n\(rule)")
                            #expect(!next.isLog)
                        }
                        // Every decision but those over lo and established-only ones is logged.
                        for (index, rule) in chain.rules.enumerated() where !rule.isLog && rule.purpose?.decision != nil {
                            let excused = rule.matches.contains(.inInterface("lo")) || rule.matches.contains(.conntrackState([.established, .related]))
                            #expect(excused || (index > 0 && chain.rules[index - 1].isLog), "\(context)\nunlogged: \(rule)")
                        }
                    }
                }
            }
        }
        #expect(logged > 1000)
    }
}
