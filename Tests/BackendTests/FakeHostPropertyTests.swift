import Foundation
import HostOps
import IptablesBackend
import MeshCapture
import NftablesBackend
import Testing
import TestSupport
import Verify

/// Random configs applied through `HostSession` to the stateful fakes of both dialects, then one
/// of meshcap's rules deleted, duplicated or moved by hand: the comparison (verify's drift) and
/// the two views (diff's text) agree that it drifted, and neither saw drift right after the
/// apply; a second apply changes nothing and a third after the tampering repairs it.
@Suite struct FakeHostPropertyTests {
    static func randomConfig(_ random: inout SeededRandom) throws -> InterceptConfig {
        var flags = ["-u", "1337", "-g", "1337"]
        flags += ["-i", ["10.96.0.0/12", "*", "172.20.0.0/16,10.0.0.0/8", ""].randomElement(using: &random)!]
        flags += ["-b", ["8080", "*", "80,443,8080", ""].randomElement(using: &random)!]
        flags += ["-m", ["REDIRECT", "TPROXY"].randomElement(using: &random)!]
        if Bool.random(using: &random) { flags += ["-x", "10.96.0.1/32"] }
        if Bool.random(using: &random) { flags += ["-d", "15090"] }
        if Bool.random(using: &random) { flags += ["--ipv6"] }
        return try ConfigLoader.load(files: [], flags: flags, accounts: AccountDatabase(users: [:], groups: [:]), resolvConf: "/dev/null").config
    }

    /// Whether the host's rules drift from `desired`: by the comparison, and by diff's two views.
    static func drift<Host: FirewallHost>(_ host: Host, _ desired: DesiredState) throws -> (comparison: Bool, views: Bool) {
        let live = try host.observe(), expected = host.dialect.expected(desired)
        let comparison = Comparison(rules: live.rules, chains: live.chains, expected: expected)
        return (comparison.drifted, host.dialect.view(of: live.rules, chains: live.chains) != host.dialect.view(of: expected.rules, chains: expected.chains))
    }

    /// diff's two sides, for a failure's message.
    static func views<Host: FirewallHost>(_ host: Host, _ desired: DesiredState) throws -> String {
        let live = try host.observe(), expected = host.dialect.expected(desired)
        return unifiedDiff(expected: host.dialect.view(of: expected.rules, chains: expected.chains),
                           actual: host.dialect.view(of: live.rules, chains: live.chains), label: "view")
    }

    static func check<Host: FirewallHost>(_ host: Host, rounds: Int, tamper: (Host, inout SeededRandom) -> String?) throws {
        var random = SeededRandom.forTest("FakeHostPropertyTests \(host.dialect.syntax)")
        for round in 0..<rounds {
            let config = try randomConfig(&random)
            let plan = CapturePlan(config)
            let desired = DesiredState(rulesets: host.dialect.layouts(config.families.sorted()).map { plan.ruleset(for: $0) },
                                       routing: plan.routing) { _, _ in nil }
            let journal = Journal(directory: FileManager.default.temporaryDirectory.appendingPathComponent("meshcap-journal-\(UUID())").path)
            defer { try? FileManager.default.removeItem(atPath: journal.directory) }
            let session = HostSession(firewall: host, routing: try FakeRouting(), journal: journal)
            let context = "seed \(SeededRandom.seed) round \(round) \(host.dialect.syntax): \(config.record)"
            _ = try session.apply(desired, record: "", dryRun: false)
            let applied = try drift(host, desired)
            let sides = try views(host, desired)
            #expect(!applied.comparison && !applied.views, "drift right after apply (\(applied)): \(context)\n\(sides)")
            #expect(try session.apply(desired, record: "", dryRun: false).changedNothing, "a second apply changed something: \(context)")
            guard let what = tamper(host, &random) else { continue }
            let tampered = try drift(host, desired)
            #expect(tampered.comparison && tampered.views, "\(what): comparison \(tampered.comparison), views \(tampered.views): \(context)")
            _ = try session.apply(desired, record: "", dryRun: false)
            #expect(try drift(host, desired) == (false, false), "apply did not repair \(what): \(context)")
        }
    }

    /// One of `rules` (its indices `ours`) deleted, duplicated, or swapped with a different one
    /// of its chain; what was done, or nil when there was nothing to tamper with.
    static func tamper<Rule>(_ rules: inout [Rule], ours: [Int], chain: (Rule) -> String, same: (Rule, Rule) -> Bool,
                             _ random: inout SeededRandom) -> String? {
        guard let at = ours.randomElement(using: &random) else { return nil }
        switch Int.random(in: 0..<3, using: &random) {
        case 0:
            rules.remove(at: at)
            return "deleted rule \(at)"
        case 1:
            rules.insert(rules[at], at: at)
            return "duplicated rule \(at)"
        default:
            guard let other = ours.first(where: { chain(rules[$0]) == chain(rules[at]) && !same(rules[$0], rules[at]) }) else {
                rules.remove(at: at)
                return "deleted rule \(at)"
            }
            rules.swapAt(at, other)
            return "swapped rules \(at) and \(other)"
        }
    }

    @Test func nftDriftIsSeenByBothSides() throws {
        try Self.check(FakeNft(), rounds: 40) { host, random in
            var said: String?
            host.tamper { rules in
                let ours = rules.indices.filter { rules[$0].chain.hasPrefix("istio-") }
                said = Self.tamper(&rules, ours: ours, chain: { "\($0.table) \($0.chain)" }, same: { $0.rule == $1.rule }, &random)
            }
            return said
        }
    }

    @Test func iptablesDriftIsSeenByBothSides() throws {
        try Self.check(try FakeIptables(), rounds: 40) { host, random in
            guard var save = host.state[.ipv4], let nat = save.tables.firstIndex(where: { $0.name == "nat" }),
                  let chain = save.tables[nat].chains.firstIndex(where: { $0.name == "ISTIO_OUTPUT" }) else { return nil }
            var rules = save.tables[nat].chains[chain].rules
            let said = Self.tamper(&rules, ours: Array(rules.indices), chain: { _ in "ISTIO_OUTPUT" }, same: { $0.text == $1.text }, &random)
            save.tables[nat].chains[chain].rules = rules
            host.state[.ipv4] = save
            return said
        }
    }
}
