import Foundation
import Testing
import TestSupport

/// `meshcap verify --from`: every dump format the kernel can print of a namespace meshcap
/// applied to (nft, iptables-nft and iptables-legacy, both families) reads into the rows and
/// totals the live `meshcap verify` gives, with and without the config. Counts come from real
/// traffic, and from counters set on every rule (large enough that `iptables -L` rounds them),
/// in configs with mangle and raw rules (TPROXY, DNS capture).
@Suite(.serialized) struct SavedDumpTests {
    /// A dump as the tool printed it, and the shell command that printed it.
    struct Dump {
        let command: String
        let text: String
        /// `iptables -L` without `-x`: counts rounded to K, M, G, T.
        var rounded: Bool { command.contains("-nvL") }
    }

    /// Every format the host's own backend prints, read inside the namespace.
    static func dumps(_ ns: Namespace, _ kind: HostKind) throws -> [Dump] {
        var commands: [String]
        switch kind {
        case .nft:
            let tables = try ns.exec("nft", "list", "tables").split(separator: "\n").map { $0.split(separator: " ").last.map(String.init) ?? "" }
            commands = ["nft list ruleset", "nft -j list ruleset", "nft -a list ruleset",
                        tables.map { "nft list table inet \($0)" }.joined(separator: "; ")]
        case .iptablesNft, .iptablesLegacy:
            let variant = kind == .iptablesNft ? "nft" : "legacy"
            commands = ["iptables-\(variant)-save -c; ip6tables-\(variant)-save -c"]
            // Legacy tools create a table they are asked to list: list only those the kernel has.
            let tables = try ["nat", "mangle", "raw"].filter { table in
                try kind == .iptablesNft || ns.exec("cat", "/proc/net/ip_tables_names", "/proc/net/ip6_tables_names").split(separator: "\n").contains { $0 == table }
            }
            for options in ["-nvL", "-nvxL", "-nvxL --line-numbers", "-S -v"] {
                commands.append(tables.flatMap { ["iptables-\(variant) -t \($0) \(options)", "ip6tables-\(variant) -t \($0) \(options)"] }.joined(separator: "; "))
            }
        }
        return try commands.map { Dump(command: $0, text: try ns.exec("sh", "-c", $0)) }
    }

    /// What `verify --json` says, as the rows, totals and problems compared here.
    struct Report: CustomStringConvertible {
        let status: Int32
        let object: [String: Any]
        let stderr: String

        init(_ result: ProcessResult) throws {
            status = result.status
            stderr = result.stderr
            object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        }

        var rows: [[String: Any]] { object["rows"] as? [[String: Any]] ?? [] }
        var totals: [[String: Any]] { object["totals"] as? [[String: Any]] ?? [] }
        var problems: [String] { (object["problems"] as? [[String: Any]] ?? []).map { "\($0["kind"] ?? ""): \($0["message"] ?? "")" } }
        var notes: [String] { object["notes"] as? [String] ?? [] }
        /// Each row without its counts: what it is about.
        var subjects: [String] { rows.map { "\($0["direction"] ?? "") \($0["family"] ?? "") \($0["subject"] ?? "") \($0["action"] ?? "") \($0["rules"] ?? "")" } }
        var packets: [Int] { rows.map { $0["packets"] as? Int ?? -1 } }
        var bytes: [Int] { rows.map { $0["bytes"] as? Int ?? -1 } }
        /// Every count: each row's packets and bytes, each total's.
        var counts: [Int] { packets + bytes + totals.flatMap { [$0["seen"] as? Int ?? -1, $0["captured"] as? Int ?? -1] } }
        var description: String { "\(subjects) \(counts) \(problems) \(stderr)" }
    }

    /// The dump read with `--from`, `arguments` after (a config).
    static func verify(_ dump: Dump, _ arguments: [String] = []) throws -> Report {
        let directory = try temporaryDirectory("dump")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("dump.txt")
        try dump.text.write(to: file, atomically: true, encoding: .utf8)
        return try Report(run(meshcap, ["verify", "--from", file.path, "--json"] + arguments))
    }

    /// Each dump gives the live rows, and the live totals: exactly, or within iptables -L's
    /// rounding (each count of 100000 or more to three significant digits at least).
    static func expectSameRows(_ ns: Namespace, _ kind: HostKind, _ arguments: [String] = []) throws {
        let live = try Report(meshcapIn(ns, ["verify", "--json"] + arguments))
        #expect(live.status == 0 && !live.rows.isEmpty, "live: \(live)")
        for dump in try dumps(ns, kind) {
            let read = try verify(dump, arguments)
            let label = "\(kind.rawValue) `\(dump.command)` \(arguments)"
            #expect(read.status == live.status, "\(label): \(read)")
            #expect(read.subjects == live.subjects, "\(label):\n\(read.subjects)\nlive:\n\(live.subjects)")
            #expect(read.problems == [], "\(label): \(read.problems)")
            if dump.rounded && read.notes.contains(where: { $0.hasPrefix("counts are rounded") }) {
                #expect(read.counts.count == live.counts.count, "\(label): \(read.counts), live \(live.counts)")
                for (dumped, exact) in zip(read.counts, live.counts) {
                    #expect(abs(dumped - exact) <= exact / 100, "\(label): \(dumped) for \(exact)")
                }
            } else {
                #expect(read.counts == live.counts, "\(label): \(read.counts), live \(live.counts)")
            }
        }
    }

    /// What the second round adds to the config: meshcap's own rules, read from every dump too:
    /// log rules (`--log`: the kernel log's LOG and nft `log`, rate-limited) and inbound source
    /// exclusions, as sets where nft has them.
    static let ownRules = ["--log", "--exclude-inbound-ips", "203.0.113.0/24,2001:db8:7::/64", "--layout", "sets"]

    @Test(.needsRoot, arguments: HostKind.allCases, [[], ownRules])
    func dumpsOfRealTrafficReadAsTheLiveHost(_ kind: HostKind, _ extra: [String]) throws {
        let network = try TestNetwork()
        for (ns, port, name) in [(network.workload, 15001, "proxy-outbound"), (network.workload, 15006, "proxy-inbound"),
                                 (network.peer, 8080, "peer"), (network.peer, 9090, "peer")] {
            try network.serve(in: ns, port: port, name: name)
        }
        let config = VerifyTests.config + extra
        let applied = try meshcapIn(network.workload, ["apply"] + config + kind.arguments)
        #expect(applied.status == 0, "\(applied.stderr)")
        try VerifyTests.sendTraffic(network)
        if !extra.isEmpty {
            let dumped = try Self.dumps(network.workload, kind)
            #expect(dumped.allSatisfy { $0.text.contains("meshcap out capture: ") && $0.text.contains(kind == .nft ? "inbound-exclude-sources-ipv4" : "203.0.113.0/24") }, "\(dumped.map(\.text))")
        }
        try Self.expectSameRows(network.workload, kind)
        try Self.expectSameRows(network.workload, kind, config)
    }

    /// Configs with mangle (TPROXY) and raw (DNS capture) rules, every rule given its own count,
    /// from 100,000 up to trillions: `iptables -L` prints them with each suffix.
    @Test(.needsRoot, arguments: HostKind.allCases, ["tproxy", "dual-stack"])
    func largeCountsInEveryTable(_ kind: HostKind, _ profile: String) throws {
        let ns = try Namespace("w")
        let config = ["--config", packageRoot.appendingPathComponent("Rules/\(profile).env").path]
        let applied = try meshcapIn(ns, ["apply"] + config + kind.arguments)
        #expect(applied.status == 0, "\(applied.stderr)")
        try Self.setCounters(ns, kind, config)
        // Every row counts (ip6tables-nft-restore 1.8.9 ignores --counters: IPv6 stays at 0 there).
        let live = try Report(meshcapIn(ns, ["verify", "--json"]))
        for row in live.rows where kind != .iptablesNft || row["family"] as? String != "ipv6" {
            #expect((row["packets"] as? Int ?? 0) >= 100_000, "\(row)")
        }
        let listed = try Self.dumps(ns, kind).first { $0.command.hasPrefix("iptables-nft -t") || $0.command.hasPrefix("iptables-legacy -t") }
        if let listed {
            for suffix in ["K", "M", "G", "T"] { #expect(listed.text.contains("\(suffix) "), "no count with \(suffix) in\n\(listed.text)") }
        }
        try Self.expectSameRows(ns, kind)
        try Self.expectSameRows(ns, kind, config)
    }

    /// Gives the n-th rule 10^(5 + n % 8) + n packets (and 60 times as many bytes): iptables
    /// rules by loading the host's own dump back with those counters; nft rules by loading
    /// meshcap's script for the config with them (`nft list`'s text would not do: it leaves out
    /// what nft would then compile differently, see `RuleDecoder.listed`).
    static func setCounters(_ ns: Namespace, _ kind: HostKind, _ config: [String]) throws {
        var rule = 0
        func next() -> (packets: UInt64, bytes: UInt64) {
            defer { rule += 1 }
            var packets: UInt64 = 1
            for _ in 0..<(5 + rule % 8) { packets *= 10 }
            packets += UInt64(rule)
            return (packets, packets * 60)
        }
        switch kind {
        case .nft:
            let script = try meshcapIn(ns, ["compile", "--backend", "nft"] + config).stdout
            let text = script.split(separator: "\n", omittingEmptySubsequences: false).map { line in
                guard let range = line.range(of: " counter ") else { return String(line) }
                let counts = next()
                return line.replacingCharacters(in: range, with: " counter packets \(counts.packets) bytes \(counts.bytes) ")
            }.joined(separator: "\n")
            try ns.exec("nft", "-f", "-", input: text)
        case .iptablesNft, .iptablesLegacy:
            let variant = kind == .iptablesNft ? "nft" : "legacy"
            for family in ["iptables", "ip6tables"] {
                let text = try ns.exec("\(family)-\(variant)-save", "-c").split(separator: "\n", omittingEmptySubsequences: false).map { line in
                    guard line.hasPrefix("[0:0] -A ") else { return String(line) }
                    let counts = next()
                    return "[\(counts.packets):\(counts.bytes)]" + line.dropFirst("[0:0]".count)
                }.joined(separator: "\n")
                try ns.exec("\(family)-\(variant)-restore", "--counters", input: text)
            }
        }
    }

    /// A dump of the other backend than the one holding meshcap's rules reads as no rules of
    /// meshcap's (and, for nft's view of iptables-nft's ISTIO chains, as capture elsewhere).
    @Test(.needsRoot)
    func otherBackendsDumpReadsAsNoRules() throws {
        let ns = try Namespace("w")
        #expect(try meshcapIn(ns, ["apply"] + VerifyTests.config + HostKind.iptablesNft.arguments).status == 0)
        let nft = try Self.verify(Dump(command: "nft list ruleset", text: ns.exec("nft", "list", "ruleset")))
        #expect(nft.status == 1 && nft.rows.isEmpty, "\(nft)")
        #expect(nft.problems.contains { $0.hasPrefix("no-rules:") } && nft.problems.contains { $0.hasPrefix("captured-twice: iptables-nft holds ISTIO chains (IPv4 and IPv6)") },
                "\(nft.problems)")
    }
}
