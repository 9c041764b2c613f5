import Foundation
import Testing
import TestSupport

/// `meshcap diff --from`: a saved dump (real output of the tools, `Tests/VerifyTests/Dumps`)
/// held against the config it was applied from, without root: the same comparison and views a
/// live diff makes. The dumps were made with the config below (their README).
@Suite struct DiffFromTests {
    static let dumps = packageRoot.appendingPathComponent("Tests/VerifyTests/Dumps")
    static let config = ["-i", "198.51.100.2/32,2001:db8:5::2/128", "-b", "8080", "-o", "9090", "--ipv6", "--passwd-file", "/dev/null"]

    @Test(arguments: ["iptables-nft-save.txt", "iptables-legacy-save.txt", "nft-list-ruleset.txt", "nft-json-list-ruleset.json"])
    func aDumpOfTheConfigsRulesIsNoDrift(file: String) throws {
        let result = try run(meshcap, ["diff", "--from", Self.dumps.appendingPathComponent(file).path] + Self.config)
        #expect(result.status == 0 && result.stdout.isEmpty, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("no drift: the rules in "), "\(result.stderr)")
    }

    /// A rule gone from the dump, and a base chain moved to another priority: each is drift, said
    /// as verify says it and shown in the dump's own syntax.
    @Test func aRuleGoneOrAChainMovedIsDrift() throws {
        let save = try String(contentsOf: Self.dumps.appendingPathComponent("iptables-nft-save.txt"), encoding: .utf8)
        let fewer = save.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains("-A ISTIO_OUTPUT -p tcp -m tcp --dport 9090") }.joined(separator: "\n")
        let gone = try run(meshcap, ["diff", "--from", "-"] + Self.config, input: fewer)
        #expect(gone.status == 1, "\(gone.stderr)")
        #expect(gone.stdout.contains("\n+-A ISTIO_OUTPUT -p tcp -m tcp --dport 9090 -j RETURN\n"), "\(gone.stdout)")
        #expect(gone.stderr.contains("are not the config's: 2 of its rules are missing there"), "\(gone.stderr)")

        let nft = try String(contentsOf: Self.dumps.appendingPathComponent("nft-list-ruleset.txt"), encoding: .utf8)
        let moved = nft.replacingOccurrences(of: "type nat hook output priority -100;", with: "type nat hook output priority 10;")
        try #require(moved != nft, "the dump no longer has nat output at -100")
        let chain = try run(meshcap, ["diff", "--from", "-"] + Self.config, input: moved)
        #expect(chain.status == 1 && chain.stdout.contains("+\tchain output (type nat hook output priority -100)"), "\(chain.stdout)")
        #expect(chain.stderr.contains("istio-proxy-nat output is declared (type nat hook output priority 10)"), "\(chain.stderr)")
    }

    /// `iptables -S -v` of every table and both families, told apart by their built-in chains.
    @Test func anSVListingOfEveryTableIsNoDrift() throws {
        let dump = Self.dumps.appendingPathComponent("dual-stack-iptables-nft-S-v.txt").path
        let result = try run(meshcap, ["diff", "--from", dump, "--config", packageRoot.appendingPathComponent("Rules/dual-stack.env").path, "--passwd-file", "/dev/null"])
        #expect(result.status == 0 && result.stderr.contains("no drift: the rules in iptables -S -v"), "\(result.stdout)\(result.stderr)")
    }

    /// The same rules without counters (as Istio's nft rules were until istio/istio#57216):
    /// the capture is the config's, but apply would write rules that count, so diff says so.
    @Test func rulesWithoutCountersAreWhatApplyWouldChange() throws {
        let nft = try String(contentsOf: Self.dumps.appendingPathComponent("nft-list-ruleset.txt"), encoding: .utf8)
        let uncounted = nft.replacing(/\ counter packets \d+ bytes \d+/, with: "")
        try #require(uncounted != nft)
        let result = try run(meshcap, ["diff", "--from", "-"] + Self.config, input: uncounted)
        #expect(result.status == 1 && result.stderr.contains("of its rules have no counter"), "\(result.stdout)\(result.stderr)")
        #expect(!result.stderr.contains("are not the config's"), "\(result.stderr)")
    }

    @Test func fromNeedsAConfigAndNoNamespace() throws {
        let dump = Self.dumps.appendingPathComponent("nft-list-ruleset.txt").path
        let bare = try run(meshcap, ["diff", "--from", dump])
        #expect(bare.status == 2 && bare.stderr.contains("--from compares a saved dump with a config"), "\(bare.stderr)")
        let both = try run(meshcap, ["diff", "--from", dump, "--netns", "x"] + Self.config)
        #expect(both.status == 2 && both.stderr.contains("--netns or --from, not both"), "\(both.stderr)")
    }
}
