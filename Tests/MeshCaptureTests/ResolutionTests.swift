import Testing
@testable import MeshCapture

@Suite struct ResolutionTests {
    let v4 = try! Prefix.parse("127.0.0.6")
    let v6 = try! Prefix.parse("::6")

    /// Istio inserts at 0, 1, 1, 2; what each reader sees differs, and must.
    var declaration: RulesetDeclaration {
        RulesetDeclaration {
            table(.mangle) {
                chain(.istioInbound) {
                    Rule(.l4proto(.tcp), then: .jump(.istioTProxy))
                    Rule(.mark(1337), then: .return).inserted(at: 0)
                    Rule(.source(v4), then: .return).inserted(at: 1)
                    Rule(.source(v6), then: .return).inserted(at: 1)
                    Rule(.mark(1338, negated: true), then: .return).inserted(at: 2)
                }
                chain(.istioTProxy) { Rule(then: .accept) }
            }
        }
    }

    func order(_ layout: Layout, _ families: Set<Family> = [.ipv4, .ipv6]) -> [[Match]] {
        declaration.resolve(for: layout, families: families).table(.mangle)?.chain(.istioInbound)?.rules.map(\.matches) ?? []
    }

    @Test func insertsResolvePerLayout() {
        #expect(order(.xtables(.ipv4)) == [[.mark(1337)], [.source(v4)], [.mark(1338, negated: true)], [.l4proto(.tcp)]])
        #expect(order(.xtables(.ipv6)) == [[.mark(1337)], [.source(v6)], [.mark(1338, negated: true)], [.l4proto(.tcp)]])
        #expect(order(.inet) == [[.mark(1337)], [.source(v6)], [.mark(1338, negated: true)], [.source(v4)], [.l4proto(.tcp)]])
    }

    @Test func disabledFamiliesAreLeftOut() {
        #expect(order(.inet, [.ipv4]) == [[.mark(1337)], [.source(v4)], [.mark(1338, negated: true)], [.l4proto(.tcp)]])
    }

    @Test func jumpsToChainsEmptyInALayoutArePrunedTransitively() {
        let declaration = RulesetDeclaration {
            table(.raw) {
                chain(.output) { Rule(then: .jump(.istioOutput)) }
                chain(.istioOutput) { Rule(then: .jump(.istioOutputDNS)) }
                chain(.istioOutputDNS) { Rule(.destination(v4), then: .conntrackZone(2)) }
            }
        }
        #expect(declaration.resolve(for: .xtables(.ipv4), families: [.ipv4, .ipv6]).ruleCount == 3)
        #expect(declaration.resolve(for: .xtables(.ipv6), families: [.ipv4, .ipv6]).tables.isEmpty)
    }
}
