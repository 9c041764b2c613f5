import Foundation
import Testing
import TestSupport

/// istio-iptables' "change nothing" settings, and `apply --dry-run`, against a namespace holding
/// meshcap's rules of another config and a foreign table: every one of them leaves the ruleset
/// (handles included) exactly as it was.
@Suite struct ApplyModeTests {
    static let profile = packageRoot.appendingPathComponent("Rules/dual-stack.env").path

    struct Mode: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let arguments: [String]
        /// A line in a config file given too, or nil.
        let configLine: String?
        /// Variables added to meshcap's environment.
        var environment: [String: String] = [:]
        let status: Int32
        let stderr: String
        /// Whether stdout is the batch `compile --backend netlink` prints.
        let printsBatch: Bool
    }

    static let modes: [Mode] = [
        Mode(testDescription: "apply --dry-run", arguments: ["--dry-run"], configLine: nil, status: 0, stderr: "filled in: PROXY_UID=1337", printsBatch: true),
        Mode(testDescription: "apply -n (istio-iptables)", arguments: ["-n"], configLine: nil, status: 0,
             stderr: "DRY_RUN=true (flag -n): printing what would be sent instead of applying it", printsBatch: true),
        Mode(testDescription: "DRY_RUN=true in a file", arguments: [], configLine: "DRY_RUN=true", status: 0,
             stderr: "DRY_RUN=true (", printsBatch: true),
        Mode(testDescription: "DRY_RUN=true in the environment", arguments: [], configLine: nil, environment: ["DRY_RUN": "true"], status: 0,
             stderr: "DRY_RUN=true (environment variable DRY_RUN): printing what would be sent", printsBatch: true),
        Mode(testDescription: "SKIP_RULE_APPLY=true", arguments: ["--skip-rule-apply"], configLine: nil, status: 0,
             stderr: "SKIP_RULE_APPLY=true (flag --skip-rule-apply): nothing was applied", printsBatch: false),
    ]

    @Test(.needsRoot, arguments: modes)
    func changesNothing(_ mode: Mode) throws {
        let ns = try Namespace("mode")
        let work = try temporaryDirectory("mode")
        defer { try? FileManager.default.removeItem(at: work) }
        // What is in force before: meshcap's rules of another config, and someone else's table.
        #expect(try meshcapIn(ns, ["apply", "-i", "10.0.0.0/8", "-b", "22"]).status == 0)
        try ns.exec("nft", "-f", "-", input: "table ip foreign {\n chain input {\n type filter hook input priority 0; policy accept;\n counter accept\n }\n}\n")
        let before = try ns.exec("nft", "-a", "list", "ruleset")

        var arguments = ["--config", Self.profile]
        if let line = mode.configLine {
            let file = work.appendingPathComponent("mode.env")
            try (line + "\n").write(to: file, atomically: true, encoding: .utf8)
            arguments += ["--config", file.path]
        }
        let environment = ProcessInfo.processInfo.environment.merging(mode.environment) { $1 }
        let result = try meshcapIn(ns, ["apply"] + arguments + mode.arguments, environment: environment)
        #expect(result.status == mode.status, "\(result.stderr)")
        #expect(result.stderr.contains(mode.stderr), "\(result.stderr)")
        if mode.printsBatch {
            // The batch against the live rules (another config's, so all of it but the mangle
            // table, which neither config has and which is left alone), then the routing.
            let batch = try run(meshcap, ["compile", "--backend", "netlink", "--config", Self.profile]).stdout
                .replacingOccurrences(of: "add table inet istio-proxy-mangle\ndelete table inet istio-proxy-mangle\n", with: "")
            #expect(result.stdout == batch + "# routing over rtnetlink, as ip would be told:\nip -6 addr add ::6/128 dev lo\n")
            #expect(result.stdout.contains("add rule inet istio-proxy-nat istio-output"))
        } else {
            #expect(result.stdout.isEmpty)
        }
        #expect(try ns.exec("nft", "-a", "list", "ruleset") == before, "\(mode.testDescription) changed the ruleset")
    }

    /// Istio's NETWORK_NAMESPACE (environment, flag) is `--netns`: the rules go into that
    /// namespace, run from the root one; a namespace that does not exist changes nothing anywhere;
    /// `--netns` wins over the key, and says so.
    @Test(.needsRoot)
    func networkNamespaceKeyProgramsThatNamespace() throws {
        let ns = try Namespace("netkey")
        let root = try HostState.root()
        // The root's reading sees what is there (the kernel's default policy rules), so that an
        // unchanged reading means something.
        #expect(root.sections["ip -4 rule"]?.contains("from all lookup main") == true && root.sections.keys.contains("nft list ruleset"), "\(root)")
        let environment = ProcessInfo.processInfo.environment.merging(["NETWORK_NAMESPACE": ns.name]) { $1 }
        let applied = try run(meshcap, ["apply", "--config", Self.profile], environment: environment)
        #expect(applied.status == 0 && applied.stderr.contains("in network namespace \(ns.name) (/run/netns/\(ns.name))"), "\(applied.stderr)")
        let programmed = try ns.exec("nft", "-a", "list", "ruleset")
        #expect(programmed.contains("table inet istio-proxy-nat"))

        // A FIFO given by mistake is refused at once, not waited on for a writer.
        let fifo = try temporaryDirectory("fifo").appendingPathComponent("ns")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        defer { try? FileManager.default.removeItem(at: fifo.deletingLastPathComponent()) }
        let notNamespace = try run(meshcap, ["diff", "--netns", fifo.path, "--config", Self.profile])
        #expect(notNamespace.status == 3 && notNamespace.stderr.contains("\(fifo.path) is not a network namespace"), "\(notNamespace.stderr)")
        let missing = try run(meshcap, ["clean", "--network-namespace", "gone-\(ns.name)"])
        #expect(missing.status == 3, "\(missing.stderr)")
        #expect(missing.stderr.contains("NETWORK_NAMESPACE=gone-\(ns.name) (flag --network-namespace): there is no network namespace of that name"), "\(missing.stderr)")
        let overridden = try run(meshcap, ["diff", "--netns", ns.name, "--config", Self.profile, "--network-namespace", "gone-\(ns.name)"])
        #expect(overridden.status == 0 && overridden.stderr.contains("no drift"), "\(overridden.stderr)")
        #expect(overridden.stderr.contains("in network namespace \(ns.name) (/run/netns/\(ns.name); --netns wins over NETWORK_NAMESPACE=gone-\(ns.name)"), "\(overridden.stderr)")
        #expect(try ns.exec("nft", "-a", "list", "ruleset") == programmed)
        // clean and verify read the key from the environment without a config as well.
        let verified = try run(meshcap, ["verify"], environment: environment)
        #expect(verified.status == 0 && verified.stdout.contains("port 8443"), "\(verified.stdout)\(verified.stderr)")
        let cleaned = try run(meshcap, ["clean"], environment: environment)
        #expect(cleaned.status == 0 && cleaned.stderr.contains("in network namespace \(ns.name)"), "\(cleaned.stderr)")
        #expect(try ns.exec("nft", "list", "ruleset").isEmpty)
        #expect(try HostState.root() == root)
    }

    /// istio-iptables --cleanup-only removes the rules; so does CLEANUP_ONLY in apply.
    @Test(.needsRoot)
    func cleanupOnlyCleans() throws {
        let ns = try Namespace("cleanup")
        #expect(try meshcapIn(ns, ["apply", "--config", Self.profile]).status == 0)
        try ns.exec("nft", "-f", "-", input: "table ip foreign {\n chain input {\n type filter hook input priority 0; policy accept;\n counter accept\n }\n}\n")
        let result = try meshcapIn(ns, ["apply", "--config", Self.profile, "--cleanup-only"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("CLEANUP_ONLY=true (flag --cleanup-only): removing the rules instead of applying them"))
        #expect(try ns.exec("nft", "list", "ruleset") == "table ip foreign {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tcounter packets 0 bytes 0 accept\n\t}\n}\n")
    }

    /// FORCE_IPTABLES_BINARY picks the variant, and the report names the line that said so.
    @Test(.needsRoot)
    func theVariantsSourceIsNamed() throws {
        let ns = try Namespace("variant")
        let work = try temporaryDirectory("variant")
        defer { try? FileManager.default.removeItem(at: work) }
        let file = work.appendingPathComponent("force.env")
        try "FORCE_IPTABLES_BINARY=legacy\n".write(to: file, atomically: true, encoding: .utf8)
        let result = try meshcapIn(ns, ["apply", "--config", Self.profile, "--config", file.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("using iptables-legacy: FORCE_IPTABLES_BINARY=legacy (\(file.path):1)"), "\(result.stderr)")
        #expect(try ns.exec("iptables-legacy-save", "-t", "nat").contains(":ISTIO_OUTPUT"))
    }
}

/// Without --backend, every host command works where the host's capture rules are: after an
/// iptables apply, diff compares the iptables rules, a second apply changes nothing (and adds no
/// nft tables, which would capture a second time), and verify reads them.
@Suite struct BackendDefaultTests {
    @Test(.needsRoot, arguments: ["nft", "legacy"])
    func commandsFollowTheRulesIntoIptables(_ variant: String) throws {
        let ns = try Namespace("bd-\(variant)")
        let config = ["--config", ApplyModeTests.profile]
        #expect(try meshcapIn(ns, ["apply", "--backend", "iptables", "--iptables-variant", variant] + config).status == 0)
        let diff = try meshcapIn(ns, ["diff"] + config)
        #expect(diff.status == 0 && diff.stderr.contains("using iptables-\(variant)"), "\(diff.stdout)\(diff.stderr)")
        let again = try meshcapIn(ns, ["apply"] + config)
        #expect(again.status == 0 && again.stderr.contains("no change"), "\(again.stderr)")
        #expect(try !ns.exec("nft", "list", "tables").contains("istio-proxy"), "a second backend's tables were added")
        let verify = try meshcapIn(ns, ["verify"] + config)
        #expect(verify.status == 0 && verify.stdout.contains("iptables-\(variant)"), "\(verify.stdout)\(verify.stderr)")
        // Told otherwise, apply moves the capture to nft: iptables holds none afterwards.
        let nft = try meshcapIn(ns, ["apply", "--backend", "nft"] + config)
        #expect(nft.status == 0 && nft.stderr.contains("capture rules are in iptables-\(variant) too: they are removed once nft's are in force"), "\(nft.stderr)")
        #expect(try !ns.exec("iptables-\(variant)-save").contains(":ISTIO_"), "the capture stayed in iptables-\(variant) as well")
    }
}
