import Foundation
import HostOps
import IptablesBackend
import MeshCapture
import Testing
import TestSupport

/// The kernel readers of the iptables tables (`IptablesHost.kernelReading`: the legacy tables
/// over getsockopt, iptables-nft's over netlink) against the save tools: for Istio's conformance
/// cases and for seeded random configs in both families, loaded with random counters beside
/// other software's rules, each reader must give the same tables, chain for chain, rule for rule
/// (text, model and counters), as `iptables-legacy-save -c` or `iptables-nft-save -c` read by the
/// dump reader; and where it cannot print an entry exactly it must say so, and the host's
/// reading must still be the save tool's.
@Suite(.serialized) struct KernelReaderTests {
    static let configs = 200

    /// Rules other software writes beside meshcap's, in the forms the decoder prints (Docker's,
    /// a VXLAN accept, a goto, a counting rule with no target, a masked mark, a rate-limited
    /// LOG), drawn for each config.
    static func foreign(_ family: Family, _ variant: IptablesVariant, _ random: inout SeededRandom) -> String {
        let (net, host, loopback) = family == .ipv4 ? ("172.17.0.0/16", "192.0.2.7/32", "127.0.0.0/8") : ("fd00:17::/64", "2001:db8::7/128", "::1/128")
        let natRules = [
            "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
            "-A OUTPUT ! -d \(loopback) -m addrtype --dst-type LOCAL -j DOCKER",
            "-A POSTROUTING -s \(net) ! -o docker0 -j MASQUERADE",
            "-A DOCKER -i docker0 -j RETURN",
            "-A PREROUTING -i eth+ -p udp -m udp --dport 4789:4790 -j ACCEPT",
            "-A OUTPUT -d \(host)",
            "-A OUTPUT -p tcp -g DOCKER",
            "-A OUTPUT -m mark --mark 0x4000/0x4000 -j RETURN",
            "-A POSTROUTING -m limit --limit 3/min -j LOG --log-prefix \"nat out: \" --log-level 6",
            "-A DOCKER ! -i br-1a2b -p tcp -m tcp --sport 1024:65535 -m comment --comment \"kept \\\"as is\\\"\" -j RETURN",
            // The header's forms: an exact interface, -o + and ! -o +, both ports in one test
            // (one 4-byte load in iptables-nft), a negated port, an owner range, NFLOG.
            "-A PREROUTING -i eth0 -j RETURN",
            "-A POSTROUTING -o + -j RETURN",
            "-A POSTROUTING ! -o + -j RETURN",
            "-A OUTPUT -p tcp -m tcp --sport 1000 --dport 2000 -j RETURN",
            "-A OUTPUT -p udp -m udp ! --dport 53 -j RETURN",
            "-A OUTPUT -m owner --uid-owner 1000-2000 -j RETURN",
            "-A POSTROUTING -j NFLOG --nflog-prefix \"nf out\" --nflog-group 5",
            // User-defined chains whose byte order is not their case-blind order.
            "-A _x -j RETURN", "-A ab -j RETURN", "-A B1 -j RETURN",
        ] + (variant == .legacy && family == .ipv4 ? ["-A PREROUTING -f -j RETURN"] : [])
        let mangleRules = ["-A PREROUTING -m conntrack --ctstate INVALID -j DROP", "-A OUTPUT -p udp -m multiport --sports 53,5353:5354 -j RETURN"]
        var text = "*nat\n:DOCKER - [0:0]\n:_x - [0:0]\n:ab - [0:0]\n:B1 - [0:0]\n"
        for rule in natRules where Bool.random(using: &random) { text += "[\(UInt32.random(in: 0...999, using: &random)):\(UInt32.random(in: 0...99999, using: &random))] \(rule)\n" }
        text += "COMMIT\n*mangle\n"
        for rule in mangleRules where Bool.random(using: &random) { text += "\(rule)\n" }
        return text + "COMMIT\n"
    }

    /// Restore input with random counters on every rule, so a reading that drops, swaps or
    /// zeroes them differs.
    static func counted(_ input: String, _ random: inout SeededRandom) -> String {
        input.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix("-A ") ? "[\(UInt64.random(in: 0...1 << 40, using: &random)):\(UInt64.random(in: 0...1 << 50, using: &random))] \(line)" : String(line)
        }.joined(separator: "\n")
    }

    /// The three tables meshcap reads, as the save tool prints them and the dump reader reads them.
    static func saved(_ ns: Namespace, _ variant: IptablesVariant, _ family: Family) throws -> IptablesSave {
        let save = IptablesSave.parse(try ns.exec(variant.tool(family, "save"), "-c"), family: family)
        return IptablesSave(family: family, tables: save.tables.filter { IptablesDialect.tables.contains($0.name) })
    }

    /// The kernel reader's tables.
    static func read(_ ns: Namespace, _ variant: IptablesVariant, _ family: Family) throws -> Result<IptablesSave, UndecodableEntry> {
        try ns.inside { try IptablesHost(variant: variant, wait: 5).kernelReading(family) }
    }

    /// Table by table, chain by chain, rule by rule: where they first differ.
    static func difference(_ kernel: IptablesSave, _ tool: IptablesSave) -> String? {
        guard kernel.tables.map(\.name).sorted() == tool.tables.map(\.name).sorted() else { return "tables \(kernel.tables.map(\.name)) vs \(tool.tables.map(\.name))" }
        for table in tool.tables {
            guard let ours = kernel.table(table.name) else { return "no \(table.name) table" }
            guard ours.chains.map(\.name) == table.chains.map(\.name) else { return "\(table.name): chains \(ours.chains.map(\.name)) vs \(table.chains.map(\.name))" }
            for (mine, theirs) in zip(ours.chains, table.chains) {
                guard mine.policy == theirs.policy else { return "\(table.name) \(theirs.name): policy \(mine.policy ?? "-") vs \(theirs.policy ?? "-")" }
                guard mine.rules.count == theirs.rules.count else { return "\(table.name) \(theirs.name): \(mine.rules.count) rules vs \(theirs.rules.count)" }
                for (a, b) in zip(mine.rules, theirs.rules) where a != b {
                    return "\(table.name) \(theirs.name):\n  kernel: [\(a.packets):\(a.bytes)] \(a.text) (\(a.rule.map { "\($0)" } ?? "not meshcap's"))\n  save:   [\(b.packets):\(b.bytes)] \(b.text) (\(b.rule.map { "\($0)" } ?? "not meshcap's"))"
                }
            }
        }
        return kernel == tool ? nil : "the tables differ in order"
    }

    static let flush = "*nat\nCOMMIT\n*mangle\nCOMMIT\n*raw\nCOMMIT\n"

    @Test(.needsRoot, arguments: [IptablesVariant.legacy, .nft])
    func readerGivesTheSaveToolsTablesOnRandomConfigs(variant: IptablesVariant) throws {
        var random = SeededRandom.forTest(#function)
        let ns = try Namespace("kread")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshcap-kread-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var compared = 0, rules = 0, counted = 0
        for index in 0..<Self.configs {
            let text = ExplainDifferentialTests.config(&random)
            let file = directory.appendingPathComponent("\(index).env")
            try text.write(to: file, atomically: true, encoding: .utf8)
            let plan = CapturePlan(try ConfigLoader.load(files: [file.path], flags: [], accounts: AccountDatabase(users: [:], groups: [:])).config)
            for family in Family.allCases {
                let tool = variant.tool(family, "restore")
                try ns.exec(tool, input: Self.flush)
                if plan.config.families.contains(family) {
                    try ns.exec(tool, "--noflush", "--counters", input: Self.counted(IptablesRenderer.render(plan.ruleset(for: .xtables(family))), &random))
                }
                try ns.exec(tool, "--noflush", "--counters", input: Self.foreign(family, variant, &random))
                let saved = try Self.saved(ns, variant, family)
                guard case .success(let kernel) = try Self.read(ns, variant, family) else {
                    Issue.record("config \(index) (seed \(SeededRandom.seed)) \(family): the kernel reader refused: \(String(describing: try Self.read(ns, variant, family)))\n\(text)")
                    return
                }
                if let difference = Self.difference(kernel, saved) {
                    Issue.record("config \(index) (seed \(SeededRandom.seed)) \(family): \(difference)\n\(text)")
                    return
                }
                compared += 1
                let all = saved.tables.flatMap(\.chains).flatMap(\.rules)
                rules += all.count
                counted += all.count { $0.packets > 0 }
            }
        }
        print("kernel reader, \(variant.rawValue): \(Self.configs) configs, \(compared) family readings, \(rules) rules (\(counted) with packets) equal to \(variant.tool(.ipv4, "save")) -c")
        #expect(compared == 2 * Self.configs)
        // The generator must reach meshcap's rules, not only the foreign ones.
        #expect(rules > 20 * Self.configs)
    }

    @Test(.needsRoot, .needsCorpus, arguments: [IptablesVariant.legacy, .nft])
    func readerGivesTheSaveToolsTablesOnIstiosCases(variant: IptablesVariant) throws {
        let cases = Prerequisites.corpus.appendingPathComponent("cases")
        let names = try FileManager.default.contentsOfDirectory(atPath: cases.path).filter { $0.hasSuffix(".env") }.sorted()
        let group = Prerequisites.corpus.appendingPathComponent("canon.group")
        let accounts = try AccountDatabase(groupPath: group.path)
        var random = SeededRandom.forTest(#function)
        let ns = try Namespace("kistio")
        var compared = 0
        for name in names {
            let plan = CapturePlan(try ConfigLoader.load(files: [cases.appendingPathComponent(name).path], flags: [], accounts: accounts).config)
            for family in plan.config.families.sorted() {
                let tool = variant.tool(family, "restore")
                try ns.exec(tool, input: Self.flush)
                // Group names (--gid-owner java) resolved as canon.sh resolves them: canon.group
                // over /etc/group, in a mount namespace of the loader's own.
                let load = try run("unshare", ["-m", "sh", "-c", "mount --bind \"$0\" /etc/group && exec \"$@\"", group.path,
                                               "ip", "netns", "exec", ns.name, tool, "--noflush", "--counters"],
                                   input: Self.counted(IptablesRenderer.render(plan.ruleset(for: .xtables(family))), &random))
                try #require(load.status == 0, "\(name) \(family): \(load.stderr)")
                let saved = try Self.saved(ns, variant, family)
                guard case .success(let kernel) = try Self.read(ns, variant, family) else {
                    Issue.record("\(name) \(family): the kernel reader refused: \(String(describing: try Self.read(ns, variant, family)))")
                    continue
                }
                if let difference = Self.difference(kernel, saved) { Issue.record("\(name) \(family): \(difference)") }
                // Read from the kernel: nothing for verify to say about the reading.
                #expect(try ns.inside { try IptablesHost(variant: variant, wait: 5).observation().notes } == [], "\(name) \(family)")
                compared += 1
            }
        }
        print("kernel reader, \(variant.rawValue): \(names.count) conformance cases, \(compared) family readings equal to \(variant.tool(.ipv4, "save")) -c")
        #expect(names.count == 22 && compared >= 30)
    }

    /// Rules the decoders do not print, each alone beside meshcap's: kube-proxy's statistic
    /// match, `-m state` (conntrack's alias), `-j NOTRACK` (CT's), and for iptables-nft an nft
    /// rule in its table (ct, and a set lookup, which iptables-nft-save prints without the lookup).
    /// Each is refused with its place named, and the host reads that family with the save tool:
    /// the same rules.
    static let refused: [(variant: IptablesVariant, table: String, rule: String?, nft: String?, reason: String)] = [
        (.legacy, "nat", "-A OUTPUT -p tcp -m statistic --mode random --probability 0.5 -j RETURN", nil, "IPv4 nat OUTPUT: an entry with match statistic"),
        (.nft, "nat", "-A OUTPUT -p tcp -m statistic --mode random --probability 0.5 -j RETURN", nil, "IPv4 nat OUTPUT: a rule with match statistic"),
        (.legacy, "nat", "-A OUTPUT -m state --state ESTABLISHED -j RETURN", nil, "IPv4 nat OUTPUT: an entry with match conntrack"),
        (.nft, "nat", "-A OUTPUT -m state --state ESTABLISHED -j RETURN", nil, "IPv4 nat OUTPUT: a rule with match conntrack"),
        (.legacy, "raw", "-A OUTPUT -p udp -j NOTRACK", nil, "IPv4 raw OUTPUT: an entry with target CT"),
        (.nft, "raw", "-A OUTPUT -p udp -j NOTRACK", nil, "IPv4 raw OUTPUT: a rule with target CT"),
        (.nft, "nat", nil, "add rule ip nat OUTPUT ct state established counter accept", "IPv4 nat OUTPUT: a rule with a ct expression"),
        (.nft, "nat", nil, "add rule ip nat OUTPUT tcp dport { 22, 80 } counter accept", "IPv4 nat OUTPUT: a rule with a lookup expression"),
    ]

    @Test(.needsRoot, arguments: Array(refused.indices))
    func anEntryItCannotPrintLeavesTheFamilyToTheSaveTool(case index: Int) throws {
        let refusal = Self.refused[index]
        let ns = try Namespace("kfall")
        let tool = refusal.variant.tool(.ipv4, "restore")
        try ns.exec(tool, input: "*nat\n:ISTIO_OUTPUT - [0:0]\n-A OUTPUT -j ISTIO_OUTPUT\n-A ISTIO_OUTPUT -d 10.96.0.0/12 -j RETURN\nCOMMIT\n")
        if let rule = refusal.rule { try ns.exec(tool, "--noflush", input: "*\(refusal.table)\n\(rule)\nCOMMIT\n") }
        if let nft = refusal.nft { try ns.exec("nft", nft) }
        guard case .failure(let refused) = try Self.read(ns, refusal.variant, .ipv4) else {
            Issue.record("\(refusal): the reader printed a rule it does not know")
            return
        }
        #expect(refused.reason.hasPrefix(refusal.reason), "\(refused.reason)")
        // verify says so, and why; for a set lookup, that the save tool's text leaves it out.
        let notes = try ns.inside { try IptablesHost(variant: refusal.variant, wait: 5).observation().notes }
        #expect(notes.count == 1 && notes.first?.contains("read with \(refusal.variant.tool(.ipv4, "save")) -c, not from the kernel: \(refusal.reason)") == true, "\(notes)")
        #expect(notes.first?.contains("without its set lookup") == refusal.reason.contains("lookup"), "\(notes)")
        let reading = try ns.inside { try IptablesHost(variant: refusal.variant, wait: 5).read() }
        let tables = reading[.ipv4]?.tables.filter { IptablesDialect.tables.contains($0.name) } ?? []
        #expect(IptablesSave(family: .ipv4, tables: tables) == (try Self.saved(ns, refusal.variant, .ipv4)))
    }
}
