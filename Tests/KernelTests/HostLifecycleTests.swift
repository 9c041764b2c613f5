import Foundation
import HostOps
import Testing
import TestSupport

/// apply, re-apply, reconfigure, diff and clean on a namespace that also holds other software's
/// rules, with each of the three ways meshcap programs a host.
@Suite struct HostLifecycleTests {
    static let profiles = packageRoot.appendingPathComponent("Rules")
    /// A plain VM, a dual-stack one with DNS capture, and TPROXY with IPv6 (policy routes, ::6).
    static let configs: [(label: String, arguments: [String])] = [
        ("vm-mesh-expansion", ["--config", profiles.appendingPathComponent("vm-mesh-expansion.env").path]),
        ("dual-stack + DNS", ["--config", profiles.appendingPathComponent("dual-stack.env").path]),
        ("tproxy + IPv6", ["--config", profiles.appendingPathComponent("tproxy.env").path, "--ipv6"]),
    ]

    struct Case: Sendable, CustomTestStringConvertible {
        let kind: HostKind
        let config: Int
        var testDescription: String { "\(kind.rawValue), \(configs[config].label)" }
    }

    static let cases = HostKind.allCases.flatMap { kind in configs.indices.map { Case(kind: kind, config: $0) } }

    @Test(.needsRoot, arguments: cases)
    func applyIsIdempotentLeavesOthersAloneAndCleanUndoesIt(_ item: Case) throws {
        let ns = try Namespace("life")
        try OtherSoftware.seed(ns)
        let before = try HostState(ns)
        let arguments = ["apply"] + Self.configs[item.config].arguments + item.kind.arguments

        let first = try meshcapIn(ns, arguments)
        #expect(first.status == 0, "\(first.stderr)")
        let applied = try HostState(ns)
        #expect(applied.foreign == before.foreign, "other software's rules changed:\n\(applied.foreign.differences(from: before.foreign, label: "after apply"))")
        // With nft's handles: a second apply that rewrote anything would show new handles.
        let once = try HostState(ns, handles: true)

        for _ in 0..<2 {
            let again = try meshcapIn(ns, arguments)
            #expect(again.status == 0)
            #expect(again.stderr.contains("no change"), "\(again.stderr)")
        }
        let thrice = try HostState(ns, handles: true)
        #expect(thrice == once, "apply ×3 differs from apply ×1:\n\(thrice.differences(from: once, label: "apply ×3"))")
        let diff = try meshcapIn(ns, ["diff"] + Self.configs[item.config].arguments + item.kind.arguments)
        #expect(diff.status == 0, "\(diff.stdout)\(diff.stderr)")

        let clean = try meshcapIn(ns, ["clean"])
        #expect(clean.status == 0, "\(clean.stderr)")
        // Nothing left: for iptables-nft, the tables its apply made (mangle, raw: base chains on
        // hooks every packet traverses) go too. The legacy variant's tables belong to the kernel
        // module, which keeps them (empty) once made.
        let after = try HostState(ns)
        let (cleaned, bare) = item.kind == .iptablesLegacy ? (after.withoutEmpty, before.withoutEmpty) : (after, before)
        #expect(cleaned == bare, "clean left this behind:\n\(cleaned.differences(from: bare, label: "after clean"))")
        let journal = try ns.inside { Journal.here().directory }
        #expect(!FileManager.default.fileExists(atPath: journal), "clean left its journal, \(journal)")
        let twice = try meshcapIn(ns, ["clean"])
        #expect(twice.status == 0)
        #expect(twice.stderr.contains("nothing to clean"), "\(twice.stderr)")
    }

    /// A namespace deleted without a clean leaves its journal; the first apply in a new
    /// namespace removes those of namespaces that are gone (and meshcap 0.2's lock files), and
    /// keeps one a process or a mount still holds. On c9f1a39 /run/meshcap only grew.
    @Test(.needsRoot)
    func journalsOfNamespacesThatAreGoneAreRemoved() throws {
        // Inode 1 is never a namespace's: these stand for namespaces deleted long ago.
        let gone = ["/run/meshcap/netns-999999999.1", "/run/meshcap/netns-1.lock"]
        try FileManager.default.createDirectory(atPath: gone[0], withIntermediateDirectories: true)
        try "PROXY_PORT='15001'\n".write(toFile: gone[0] + "/applied.env", atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: gone[1], contents: nil)
        let kept = try Namespace("kept")
        #expect(try meshcapIn(kept, ["apply", "-b", "8080"]).status == 0)
        let keptJournal = try kept.inside { Journal.here().directory }
        let fresh = try Namespace("fresh")
        #expect(try meshcapIn(fresh, ["apply", "-b", "8080"]).status == 0)
        for path in gone { #expect(!FileManager.default.fileExists(atPath: path), "\(path) is still there") }
        #expect(FileManager.default.fileExists(atPath: keptJournal + "/applied.env"), "the journal of a namespace in use went")
    }

    /// Config A then config B leaves exactly what B alone leaves.
    @Test(.needsRoot, arguments: HostKind.allCases)
    func reconfiguringLeavesExactlyTheNewRules(_ kind: HostKind) throws {
        let (a, b) = (Self.configs[2].arguments, Self.configs[1].arguments)
        let changed = try Namespace("reconf"), fresh = try Namespace("fresh")
        for ns in [changed, fresh] { try OtherSoftware.seed(ns) }
        #expect(try meshcapIn(changed, ["apply"] + a + kind.arguments).status == 0)
        let result = try meshcapIn(changed, ["apply"] + b + kind.arguments)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try meshcapIn(fresh, ["apply"] + b + kind.arguments).status == 0)
        let (afterChange, afterFresh) = (try HostState(changed).withoutEmpty, try HostState(fresh).withoutEmpty)
        #expect(afterChange == afterFresh, "A then B differs from B:\n\(afterChange.differences(from: afterFresh, label: "A then B"))")
        #expect(try meshcapIn(changed, ["diff"] + b + kind.arguments).status == 0)
        #expect(try meshcapIn(changed, ["diff"] + a + kind.arguments).status == 1)
    }

    /// With nft, a table the new config leaves as it was is not rebuilt: its handles, and so its
    /// counters, survive a change to its neighbour.
    @Test(.needsRoot)
    func anUnchangedTableKeepsItsHandles() throws {
        let ns = try Namespace("keept")
        let config = Self.configs[1].arguments
        #expect(try meshcapIn(ns, ["apply"] + config).status == 0)
        let (raw, nat) = (try ns.exec("nft", "-a", "list", "table", "inet", "istio-proxy-raw"), try ns.exec("nft", "-a", "list", "table", "inet", "istio-proxy-nat"))
        let changed = try meshcapIn(ns, ["apply"] + config + ["-b", "8080"])
        #expect(changed.status == 0, "\(changed.stderr)")
        #expect(changed.stderr.contains("istio-proxy-nat:") && !changed.stderr.contains("istio-proxy-raw"), "\(changed.stderr)")
        #expect(try ns.exec("nft", "-a", "list", "table", "inet", "istio-proxy-raw") == raw)
        #expect(try ns.exec("nft", "-a", "list", "table", "inet", "istio-proxy-nat") != nat)
        #expect(try meshcapIn(ns, ["diff"] + config + ["-b", "8080"]).status == 0)
    }

    /// Rules loaded by hand beside meshcap's (as Istio's own start script loads them): the
    /// compiled nft script through `nft -f`. meshcap's apply never leaves two captures (it moves
    /// the capture), so this is how a host gets two.
    static func loadByHand(_ ns: Namespace, _ config: [String]) throws {
        let script = try run(meshcap, ["compile", "--backend", "nft"] + config)
        try ns.exec("nft", "-f", "-", input: script.stdout)
    }

    /// Cleaning one backend keeps the policy routing while TPROXY rules in another still need it.
    @Test(.needsRoot)
    func cleaningOneBackendKeepsTheRoutingAnotherNeeds() throws {
        let ns = try Namespace("keep")
        let tproxy = ["-m", "TPROXY", "-b", "8080"]
        #expect(try meshcapIn(ns, ["apply"] + tproxy + HostKind.iptablesNft.arguments).status == 0)
        try Self.loadByHand(ns, tproxy)
        let partial = try meshcapIn(ns, ["clean", "--backend", "nft"])
        #expect(partial.stderr.contains("policy routing kept (2 entries): capture rules remain elsewhere"), "\(partial.stderr)")
        #expect(try ns.exec("ip", "rule").contains("fwmark 0x539 lookup 133 proto 109"))
        let rest = try meshcapIn(ns, ["clean", "--backend", "iptables"])
        #expect(rest.stderr.contains("ip -4 rule del fwmark 1337 lookup 133"), "\(rest.stderr)")
        #expect(!(try ns.exec("ip", "rule").contains("lookup 133")))
    }

    /// meshcap's rules in two backends capture the same packets: diff calls that drift, and a
    /// clean of one says nothing about routing there is none of.
    @Test(.needsRoot)
    func captureInTwoBackendsIsDrift() throws {
        let ns = try Namespace("twice")
        let config = Self.configs[0].arguments
        #expect(try meshcapIn(ns, ["apply"] + config).status == 0)
        let dry = try meshcapIn(ns, ["apply", "--dry-run"] + config)
        #expect(dry.status == 0 && dry.stdout.isEmpty && dry.stderr.contains("no change: the live rules (nft) already are this config's; nothing would be sent"), "\(dry.stderr)")
        #expect(try meshcapIn(ns, ["clean"]).status == 0)
        #expect(try meshcapIn(ns, ["apply"] + config + HostKind.iptablesNft.arguments).status == 0)
        try Self.loadByHand(ns, config)
        let diff = try meshcapIn(ns, ["diff"] + config + HostKind.iptablesNft.arguments)
        #expect(diff.status == 1 && diff.stdout.isEmpty, "\(diff.stdout)")
        #expect(diff.stderr.contains("meshcap's nft tables (istio-proxy-nat) are present too and capture as well"), "\(diff.stderr)")
        let clean = try meshcapIn(ns, ["clean", "--backend", "nft"])
        #expect(clean.status == 0 && !clean.stderr.contains("policy routing"), "\(clean.stderr)")
        #expect(try meshcapIn(ns, ["diff"] + config + HostKind.iptablesNft.arguments).status == 0)
    }

    /// The live rules drift from the config: diff says how, in the backend's syntax, and exits 1.
    @Test(.needsRoot)
    func diffShowsDriftInTheBackendsSyntax() throws {
        let ns = try Namespace("drift")
        let config = Self.configs[0].arguments
        #expect(try meshcapIn(ns, ["apply"] + config + HostKind.iptablesNft.arguments).status == 0)
        try ns.exec("iptables-nft", "-t", "nat", "-D", "ISTIO_OUTPUT", "-d", "100.64.0.0/13", "-j", "ISTIO_REDIRECT")
        let diff = try meshcapIn(ns, ["diff"] + config + HostKind.iptablesNft.arguments)
        #expect(diff.status == 1)
        #expect(diff.stdout.contains("--- live (iptables-nft)\n+++ config\n"))
        #expect(diff.stdout.contains("\n+-A ISTIO_OUTPUT -d 100.64.0.0/13 -j ISTIO_REDIRECT\n"), "\(diff.stdout)")
    }
}
