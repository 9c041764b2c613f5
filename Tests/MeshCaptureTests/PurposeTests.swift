import Foundation
import Testing
@testable import MeshCapture
import TestSupport

/// Every rule the plan makes says what it is for, and reading a rule back from where it sits
/// (what `verify` does without a config) finds the same purpose.
@Suite struct PurposeTests {
    /// The rules of `config` whose purpose is missing or recognised differently, one line each.
    static func mismatches(_ config: InterceptConfig) -> [String] {
        var found: [String] = []
        for layout in [Layout.inet] + config.families.sorted().map(Layout.xtables) {
            for table in CapturePlan(config).ruleset(for: layout).tables {
                for chain in table.chains {
                    let purposes = Purpose.recognised(table: table.kind, chain: chain.name, rules: chain.rules)
                    for (index, (rule, recognised)) in zip(chain.rules, purposes).enumerated() {
                        if rule.purpose == nil || recognised != rule.purpose {
                            found.append("\(layout) \(table.kind) \(chain.name) #\(index) \(rule): planned \(rule.purpose.map { "\($0)" } ?? "nothing"), recognised \(recognised.map { "\($0)" } ?? "nothing")")
                        }
                    }
                }
            }
        }
        return found
    }

    @Test func theBundledProfilesAreRecognised() throws {
        let profiles = packageRoot.appendingPathComponent("Rules")
        let names = try FileManager.default.contentsOfDirectory(atPath: profiles.path).filter { $0.hasSuffix(".env") }.sorted()
        #expect(names.count >= 8)
        for name in names {
            let config = try load([String(contentsOf: profiles.appendingPathComponent(name), encoding: .utf8)]).config
            #expect(Self.mismatches(config).isEmpty, "\(name):\n\(Self.mismatches(config).joined(separator: "\n"))")
        }
    }

    @Test(.needsCorpus) func istiosCasesAreRecognised() throws {
        let cases = Prerequisites.corpus.appendingPathComponent("cases")
        let names = try FileManager.default.contentsOfDirectory(atPath: cases.path).filter { $0.hasSuffix(".env") }.sorted()
        #expect(names.count >= 20)
        let accounts = try AccountDatabase(groupPath: Prerequisites.corpus.appendingPathComponent("canon.group").path)
        for name in names {
            let config = try ConfigLoader.load(files: [cases.appendingPathComponent(name).path], flags: [], accounts: accounts).config
            #expect(Self.mismatches(config).isEmpty, "\(name):\n\(Self.mismatches(config).joined(separator: "\n"))")
        }
    }

    /// Random valid configs (seeded): hundreds of ranges, TPROXY, DNS, groups, interfaces.
    @Test func randomConfigsAreRecognised() throws {
        var generator = ConfigGenerator(random: .forTest(#function))
        for round in 0..<300 {
            let lines = generator.entries().map { "\($0.written)=\($0.value)" }
            let config = try load([lines.joined(separator: "\n")]).config
            let wrong = Self.mismatches(config)
            #expect(wrong.isEmpty, "seed \(SeededRandom.seed), round \(round):\n\(lines.joined(separator: "\n"))\n\(wrong.prefix(5).joined(separator: "\n"))")
            if !wrong.isEmpty { break }
        }
    }
}
