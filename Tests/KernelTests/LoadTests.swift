import Foundation
import IptablesBackend
import MeshCapture
import NftablesBackend
import Testing
import TestSupport

/// Every bundled profile, and a config using what Istio's corpus leaves out, loads into a fresh
/// namespace with iptables-nft-restore (each family) and nft -f — and the nft script, applied
/// twice, replaces its tables instead of adding to them.
@Suite struct LoadTests {
    static let gapFlags = ["-i", "*", "-o", "25,587", "-b", "*", "-d", "22", "--redirect-dns", "--capture-all-dns",
                           "-p", "16001", "-z", "16006", "-m", "TPROXY", "-t", "0x100", "--ipv6", "--drop-invalid"]

    static let inputs: [String] = {
        let rules = (try? FileManager.default.contentsOfDirectory(atPath: packageRoot.appendingPathComponent("Rules").path)) ?? []
        return rules.filter { $0.hasSuffix(".env") }.sorted() + ["(corpus gaps)"]
    }()

    @Test(.needsRoot, arguments: inputs)
    func loadsWithBothBackends(input: String) throws {
        let files = input.hasSuffix(".env") ? [packageRoot.appendingPathComponent("Rules/\(input)").path] : []
        let flags = input.hasSuffix(".env") ? [] : Self.gapFlags
        let plan = CapturePlan(try ConfigLoader.load(files: files, flags: flags, accounts: AccountDatabase(users: [:], groups: [:])).config)
        let ns = try Namespace("load")
        for family in plan.config.families.sorted() {
            let loader = family == .ipv4 ? "iptables-nft-restore" : "ip6tables-nft-restore"
            try ns.exec(loader, "--noflush", input: IptablesRenderer.render(plan.ruleset(for: .xtables(family))))
        }
        let script = NftRenderer.render(plan.ruleset(for: .inet))
        try ns.exec("nft", "-f", "-", input: script)
        let once = try ns.exec("nft", "list", "table", "inet", NftNames.table(.nat))
        try ns.exec("nft", "-f", "-", input: script)
        #expect(try ns.exec("nft", "list", "table", "inet", NftNames.table(.nat)) == once)
    }
}
