import Foundation
import HostOps
import MeshCapture
import NftablesBackend
import Testing
import TestSupport

/// meshcap's own netlink batches against the kernel. Every in-process netlink call runs inside a
/// test namespace (`Namespace.inside`); nothing here can reach the host's own ruleset.
@Suite struct NetlinkTests {
    struct Input: Sendable {
        let label: String
        let file: String?
        /// The group database names resolve through (the corpus' fixed one for its cases).
        let groupFile: String?
        var flags: [String] = []
    }

    static let inputs: [Input] = {
        let rules = packageRoot.appendingPathComponent("Rules")
        var inputs = ((try? FileManager.default.contentsOfDirectory(atPath: rules.path)) ?? []).filter { $0.hasSuffix(".env") }.sorted()
            .map { Input(label: $0, file: rules.appendingPathComponent($0).path, groupFile: nil) }
        let cases = Prerequisites.corpus.appendingPathComponent("cases")
        inputs += ((try? FileManager.default.contentsOfDirectory(atPath: cases.path)) ?? []).filter { $0.hasSuffix(".env") }.sorted()
            .map { Input(label: $0, file: cases.appendingPathComponent($0).path, groupFile: Prerequisites.corpus.appendingPathComponent("canon.group").path) }
        // Prefix lengths that take different encodings: /0, byte-aligned, unaligned, host.
        inputs.append(Input(label: "(edge prefixes)", file: nil, groupFile: nil,
                            flags: ["--ipv6", "-i", "0.0.0.0/0,::/0,10.0.0.0/8,10.96.0.0/12,fd00::/8,fd00:10:96::/113",
                                    "-x", "192.168.0.1/32,2001:db8::1/128", "-o", "22,2222"]))
        return inputs
    }()

    static let meshcapTables = Set(TableKind.allCases.map(NftNames.table))

    static func ruleset(_ input: Input) throws -> (Ruleset, NetlinkBatch, OwnerResolver) {
        let accounts = try input.groupFile.map { try AccountDatabase(groupPath: $0) } ?? AccountDatabase()
        let config = try ConfigLoader.load(files: input.file.map { [$0] } ?? [], flags: input.flags, accounts: accounts).config
        let ruleset = CapturePlan(config).ruleset(for: .inet)
        let resolve: OwnerResolver = { accounts.id(of: $0, isGroup: $1) }
        return (ruleset, try NetlinkBatch.replacing(with: ruleset, resolve: resolve), resolve)
    }

    /// nft -f, with the same group database the batch resolved names through.
    static func nftLoad(_ script: String, into ns: Namespace, groupFile: String?) throws {
        if let groupFile {
            try ns.exec("unshare", "-m", "--propagation", "private", "sh", "-c", "mount --bind \"$0\" /etc/group && exec nft -f -", groupFile, input: script)
        } else {
            try ns.exec("nft", "-f", "-", input: script)
        }
    }

    static func views(_ ns: Namespace) throws -> [String: String] {
        ["nft list ruleset": try ns.exec("nft", "list", "ruleset"),
         "nft --debug=netlink list ruleset": elementsInOrder(try ns.exec("nft", "--debug=netlink", "list", "ruleset")),
         "nft -a list ruleset": try ns.exec("nft", "-a", "list", "ruleset")]
    }

    /// `nft --debug=netlink list` with each set's element lines sorted: a set of ports is a hash
    /// with a random seed, so the kernel hands its elements back in no fixed order.
    static func elementsInOrder(_ listing: String) -> String {
        var lines: [Substring] = [], run: [Substring] = []
        for line in listing.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("\telement ") { run.append(line); continue }
            lines += run.sorted()
            run = []
            lines.append(line)
        }
        return (lines + run.sorted()).joined(separator: "\n")
    }

    @Test(.needsRoot)
    func applyEqualsNftAndReadsBackIntoTheModel() throws {
        var identical = 0, readBack = 0
        for input in Self.inputs {
            let (ruleset, batch, resolve) = try Self.ruleset(input)
            let viaNetlink = try Namespace("nl"), viaNft = try Namespace("nft")
            try viaNetlink.inside { try NftApply.apply(batch) }
            try Self.nftLoad(NftRenderer.render(ruleset), into: viaNft, groupFile: input.groupFile)
            let ours = try Self.views(viaNetlink), theirs = try Self.views(viaNft)
            var same = true
            for (view, expected) in theirs.sorted(by: { $0.key < $1.key }) where ours[view] != expected {
                same = false
                Issue.record(Comment(rawValue: unifiedDiff(expected: expected, actual: ours[view] ?? "", label: "\(input.label): \(view)")))
            }
            if same { identical += 1 }

            let dumped = try viaNetlink.inside { try RuleDump.snapshot(tables: Self.meshcapTables).rules }
            let expected = ruleset.tables.flatMap { table in
                table.chains.flatMap { chain in
                    chain.rules.map { "\(NftNames.table(table.kind)) \(NftNames.chain(chain.name)) \(NftRenderer.statement(RuleDecoder.canonical($0, resolve: resolve)))" }
                }
            }
            let actual = dumped.map { "\($0.table) \($0.chain) \($0.rule.map(NftRenderer.statement) ?? "undecodable")" }
            if actual == expected { readBack += 1 } else {
                Issue.record(Comment(rawValue: unifiedDiff(expected: expected.joined(separator: "\n"), actual: actual.joined(separator: "\n"), label: "\(input.label): read back")))
            }
        }
        print("netlink: \(identical)/\(Self.inputs.count) rulesets identical to nft -f (nft list ruleset, --debug=netlink, -a); \(readBack)/\(Self.inputs.count) read back into the model")
        #expect(Self.inputs.count >= 8)
    }

    /// The CLI's refusal path: without root, apply stops before reading or changing anything.
    @Test(.needsRoot)
    func theCLIExitsThreeAndChangesNothingWhenTheKernelRefuses() throws {
        let ns = try Namespace("eperm")
        // Copies an unprivileged user can read, wherever the checkout lives.
        let work = try temporaryDirectory("eperm")
        defer { try? FileManager.default.removeItem(at: work) }
        let binary = work.appendingPathComponent("meshcap").path, config = work.appendingPathComponent("vm.env").path
        try FileManager.default.copyItem(atPath: meshcap, toPath: binary)
        try FileManager.default.copyItem(atPath: packageRoot.appendingPathComponent("Rules/vm-mesh-expansion.env").path, toPath: config)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: work.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: config)
        #expect(try run("ip", ["netns", "exec", ns.name, binary, "apply", "--config", config]).status == 0)
        let before = try ns.exec("nft", "-a", "list", "ruleset")

        let result = try run("ip", ["netns", "exec", ns.name, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                    binary, "apply", "--config", config, "-b", "8080"])
        #expect(result.status == 3, "\(result.stderr)")
        #expect(result.stderr.contains("needs root (CAP_NET_ADMIN)") && result.stderr.contains("run meshcap as root"), "\(result.stderr)")
        #expect(try ns.exec("nft", "-a", "list", "ruleset") == before)
    }

    @Test(.needsRoot)
    func theCLIAppliesIntoItsNamespace() throws {
        let ns = try Namespace("cli")
        let profile = packageRoot.appendingPathComponent("Rules/vm-mesh-expansion.env").path
        let result = try meshcapIn(ns, ["apply", "--config", profile])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try ns.exec("nft", "list", "chain", "inet", "istio-proxy-nat", "istio-output").contains("ip daddr 100.64.0.0/13 counter packets 0 bytes 0 jump istio-redirect"))
        // Applying again replaces; it does not add.
        let before = try ns.exec("nft", "list", "ruleset")
        #expect(try meshcapIn(ns, ["apply", "--config", profile]).status == 0)
        #expect(try ns.exec("nft", "list", "ruleset") == before)
    }
}
