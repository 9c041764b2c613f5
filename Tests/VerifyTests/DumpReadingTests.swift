import Foundation
import HostOps
import IptablesBackend
import MeshCapture
import Testing
import TestSupport
@testable import Verify

/// Saved dumps read back: the fixtures in Dumps/ are real output of iptables, ip6tables and nft
/// in a namespace where meshcap applied `-i 198.51.100.2/32,2001:db8:5::2/128 -b 8080 -o 9090
/// --ipv6` and known traffic went through (see Dumps/README.md); each format must give the counts
/// that traffic made.
@Suite struct DumpReadingTests {
    static func fixture(_ name: String) throws -> String {
        try String(contentsOf: packageRoot.appendingPathComponent("Tests/VerifyTests/Dumps/\(name)"), encoding: .utf8)
    }

    static let traffic: [(file: String, format: SavedDump.Format)] = [
        ("iptables-nft-save.txt", .iptablesSave), ("iptables-legacy-save.txt", .iptablesSave),
        ("iptables-nft-nvL.txt", .iptablesListing), ("iptables-nft-nvxL-line-numbers.txt", .iptablesListing),
        ("nft-list-ruleset.txt", .nftListing), ("nft-json-list-ruleset.json", .nftJSON),
    ]

    /// Packets per "direction subject action", summed over families.
    static func packets(_ report: VerifyReport) -> [String: UInt64] {
        report.rows.reduce(into: [:]) { $0["\($1.direction.rawValue) \($1.subject) \($1.action.rawValue)", default: 0] += $1.packets }
    }

    @Test(arguments: traffic)
    func eachFormatGivesTheCountsTheTrafficMade(_ file: String, _ format: SavedDump.Format) throws {
        let text = try Self.fixture(file)
        #expect(try SavedDump.format(of: text, name: file) == format)
        let reading = try SavedDump.read(text, name: file)
        #expect(reading.source == "\(format.rawValue) (\(file))")
        let report = VerifyReport(reading, desired: nil)
        let packets = Self.packets(report)
        #expect(packets["outbound 198.51.100.2/32 capture"] == 5 && packets["outbound 2001:db8:5::2/128 capture"] == 3, "\(packets)")
        #expect(packets["outbound port 9090/tcp exclude"] == 2 && packets["outbound uid 1337 bypass"] == 4 && packets["inbound port 8080 capture"] == 6, "\(packets)")
        #expect(report.healthy, "\(report.verdicts)")
        #expect(report.totals.first { $0.direction == .inbound }?.captured == 6 && report.totals.first { $0.direction == .outbound }?.captured == 8)
    }

    /// iptables-save and `iptables -nvL` of one host are the same rules, to the row and the
    /// other software's rule.
    @Test func listingAndSaveOfOneHostAgree() throws {
        let save = VerifyReport(try SavedDump.read(Self.fixture("iptables-nft-save.txt"), name: "a"), desired: nil)
        let listing = VerifyReport(try SavedDump.read(Self.fixture("iptables-nft-nvL.txt"), name: "b"), desired: nil)
        #expect(save.rows == listing.rows && save.totals == listing.totals && save.others == listing.others)
    }

    /// Windows line ends (and old Mac ones) read as Unix ones do.
    @Test(arguments: traffic.map(\.file))
    func crlfReadsLikeLF(_ file: String) throws {
        let text = try Self.fixture(file)
        let lf = VerifyReport(try SavedDump.read(text, name: file), desired: nil)
        for ending in ["\r\n", "\r"] {
            let other = VerifyReport(try SavedDump.read(text.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: ending), name: file), desired: nil)
            #expect(other.rows == lf.rows && other.totals == lf.totals && other.verdicts == lf.verdicts)
        }
    }

    /// Counts `iptables -L` printed with K, M, G and T are read to that precision, and said to be rounded.
    @Test func roundedCountsAreReadAndNoted() throws {
        let text = try Self.fixture("dual-stack-iptables-legacy-nvL-rounded.txt")
        for suffix in ["K", "M", "G", "T"] { #expect(text.contains("\(suffix) ")) }
        let report = VerifyReport(try SavedDump.read(text, name: "x"), desired: nil)
        #expect(report.notes.contains { $0.hasPrefix("counts are rounded") })
        // The three IPv4 rules that set zone 2 counted 1,101,000,000,017 packets in all; printed 1000M, 100G and 1000G.
        let zone = report.rows.first { $0.family == "ipv4" && $0.subject == "dns conntrack zone 2" }
        #expect(zone?.packets == 1_101_000_000_000 && zone?.rules == 3, "\(String(describing: zone))")
        #expect(IptablesListing.count("99999") ?? (0, true) == (99_999, false))
        #expect(IptablesListing.count("123M") ?? (0, false) == (123_000_000, true))
        #expect(IptablesListing.count("18446745T") == nil)
    }

    /// With the config, nft's text matches the config's rules although it leaves out the
    /// `meta l4proto tcp` a later port match implies: nothing reads as drift.
    @Test(arguments: ["nft-list-ruleset.txt", "nft-json-list-ruleset.json", "iptables-nft-save.txt", "iptables-nft-nvL.txt"])
    func againstTheConfigNothingDrifts(_ file: String) throws {
        let loaded = try ConfigLoader.load(files: [], flags: ["-i", "198.51.100.2/32,2001:db8:5::2/128", "-b", "8080", "-o", "9090", "--ipv6"],
                                           accounts: AccountDatabase(users: [:], groups: [:]), resolvConf: "/dev/null")
        let plan = CapturePlan(loaded.config)
        let layouts: [Layout] = file.hasPrefix("nft") ? [.inet] : [.xtables(.ipv4), .xtables(.ipv6)]
        let desired = DesiredState(rulesets: layouts.map(plan.ruleset), routing: [], resolve: { _, _ in nil })
        let reading = try SavedDump.read(Self.fixture(file), name: file)
        let report = VerifyReport(reading, desired: desired)
        #expect(report.healthy && report.againstConfig, "\(report.verdicts)")
        #expect(report.rows == VerifyReport(reading, desired: nil).rows)
    }

    /// TPROXY's mangle rules (marks, the divert, the TPROXY target) read from nft's text match
    /// Rules/tproxy.env's.
    @Test func tproxyMangleRulesMatchTheirConfig() throws {
        let loaded = try ConfigLoader.load(files: [packageRoot.appendingPathComponent("Rules/tproxy.env").path], flags: [],
                                           accounts: AccountDatabase(users: [:], groups: [:]), resolvConf: "/dev/null")
        let desired = DesiredState(rulesets: [CapturePlan(loaded.config).ruleset(for: .inet)], routing: [], resolve: { _, _ in nil })
        let report = VerifyReport(try SavedDump.read(Self.fixture("tproxy-nft-list-ruleset.txt"), name: "x"), desired: desired)
        #expect(report.healthy && report.notes.isEmpty && report.others.isEmpty, "\(report.verdicts) \(report.notes) \(report.others)")
        let rows = report.rows.map { "\($0.direction.rawValue) \($0.subject) \($0.action.rawValue) \($0.rules)" }
        #expect(rows.contains("inbound other ports capture 2") && rows.contains("inbound port 22 exclude 1") && rows.contains("outbound tproxy marks mark 2"), "\(rows)")
    }

    /// Another table's base chain at meshcap's hook, with a lower priority and rules, is named as
    /// a live host would name it; iptables-nft's ISTIO chains in the same ruleset capture too.
    @Test func otherTablesInAnNftDump() throws {
        let text = try Self.fixture("nft-list-ruleset.txt") + """
            table ip firewalld {
            \tset allowed { type ipv4_addr; flags interval; elements = { 10.0.0.0/8,
            \t\t\t192.168.0.0/16 } }
            \tchain early {
            \t\ttype nat hook output priority srcnat - 300; policy accept;
            \t\tip daddr @allowed counter packets 9 bytes 540 accept
            \t}
            }
            table ip nat {
            \tchain ISTIO_OUTPUT {
            \t}
            }

            """
        let report = VerifyReport(try SavedDump.read(text, name: "x"), desired: nil)
        #expect(report.notes.contains("nft chain ip firewalld early (nat hook output priority -200, 1 rules) runs before meshcap's istio-proxy-nat output"), "\(report.notes)")
        #expect(report.verdicts.map(\.kind) == [.capturedTwice], "\(report.verdicts)")
    }

    /// A rule meshcap does not write, inside one of its chains, ahead of its own: the rules after
    /// it are still recognised by their place among meshcap's (found by fuzzing: it crashed).
    @Test func aForeignRuleInsideMeshcapsChain() throws {
        let text = """
            *nat
            :OUTPUT ACCEPT [0:0]
            :ISTIO_OUTPUT - [0:0]
            :ISTIO_REDIRECT - [0:0]
            [9:540] -A OUTPUT -m comment --comment meshcap -j ISTIO_OUTPUT
            [9:540] -A ISTIO_OUTPUT -j LOG --log-prefix "seen "
            [4:240] -A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
            [2:120] -A ISTIO_OUTPUT -d 10.96.0.0/12 -j ISTIO_REDIRECT
            [2:120] -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
            COMMIT

            """
        let report = VerifyReport(try SavedDump.read(text, name: "x"), desired: nil)
        #expect(report.rows.map { "\($0.subject) \($0.action.rawValue) \($0.packets)" } == ["uid 1337 bypass 4", "10.96.0.0/12 capture 2"])
        #expect(report.notes == ["iptables-save -c (x) nat ISTIO_OUTPUT: `-A ISTIO_OUTPUT -j LOG --log-prefix \"seen \"` is in meshcap's chains but not a rule meshcap writes there"])
    }

    /// A chain of 30,000 rules reads in seconds: what a rule is for is found in one pass over its
    /// chain (looking at the others for each made a pasted dump of that size take minutes).
    @Test(.timeLimit(.minutes(1))) func aLongChainReadsInLinearTime() throws {
        var lines = ["*nat", ":OUTPUT ACCEPT [0:0]", ":ISTIO_OUTPUT - [0:0]", "[1:60] -A OUTPUT -m comment --comment meshcap -j ISTIO_OUTPUT"]
        for index in 0..<30_000 {
            lines.append(index % 2 == 0 ? "[1:60] -A ISTIO_OUTPUT -m owner --gid-owner \(index) -j RETURN"
                                        : "[1:60] -A ISTIO_OUTPUT -d 10.\(index / 65_536).\(index / 256 % 256).\(index % 256)/32 -j RETURN")
        }
        let report = VerifyReport(try SavedDump.read((lines + ["COMMIT"]).joined(separator: "\n"), name: "x"), desired: nil)
        #expect(report.rows.count == 30_000 && report.rows.allSatisfy { $0.packets == 1 })
    }

    /// A foreign rule ahead of meshcap's in an `iptables -nvL` listing is named with what it took.
    @Test func foreignRuleAheadInAListing() throws {
        let text = """
            Chain OUTPUT (policy ACCEPT 0 packets, 0 bytes)
             pkts bytes target     prot opt in     out     source               destination
               3   180 ACCEPT     6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:8080
               9   540 ISTIO_OUTPUT  0    --  *      *       0.0.0.0/0            0.0.0.0/0            /* meshcap */

            Chain ISTIO_OUTPUT (1 references)
             pkts bytes target     prot opt in     out     source               destination
               2   120 ISTIO_REDIRECT  0    --  *      *       0.0.0.0/0            10.96.0.0/12

            Chain ISTIO_REDIRECT (1 references)
             pkts bytes target     prot opt in     out     source               destination
               2   120 REDIRECT   6    --  *      *       0.0.0.0/0            0.0.0.0/0            redir ports 15001
            """
        let report = VerifyReport(try SavedDump.read(text, name: "x"), desired: nil)
        #expect(report.verdicts.map(\.message) == ["iptables nat OUTPUT: `-A OUTPUT -p tcp -m tcp --dport 8080 -j ACCEPT` (it ends with ACCEPT) runs before meshcap's rules, and has taken 3 packets"])
        #expect(report.rows.map { "\($0.subject) \($0.packets)" } == ["10.96.0.0/12 2"])
    }

    /// What `iptables -L` prints for each match and target meshcap writes goes back into the
    /// rule iptables-save gives for it.
    @Test(arguments: [
        ("0     0 RETURN     6    --  *      lo      ::/0                !::1                  multiport dports  !53,15008 ! owner UID match 1337",
         "-A X ! -d ::1/128 -o lo -p tcp -m multiport ! --dports 53,15008 -m owner ! --uid-owner 1337 -j RETURN"),
        ("0     0 TPROXY     6    --  *      *       ::/0                !::1                  TPROXY redirect :::15006 mark 0x539/0xffffffff",
         "-A X ! -d ::1/128 -p tcp -j TPROXY --on-port 15006 --on-ip :: --tproxy-mark 0x539/0xffffffff"),
        ("0     0 MARK       6    --  *      lo      0.0.0.0/0           !127.0.0.1            owner GID match 1337 MARK set 0x53a",
         "-A X ! -d 127.0.0.1/32 -o lo -p tcp -m owner --gid-owner 1337 -j MARK --set-xmark 0x53a/0xffffffff"),
        ("0     0 CONNMARK   6    --  *      *       0.0.0.0/0            0.0.0.0/0            connmark match  0x539 CONNMARK restore",
         "-A X -p tcp -m connmark --mark 0x539 -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff"),
        ("0     0 RETURN     6    --  lo     *       0.0.0.0/0            0.0.0.0/0            mark match ! 0x53a",
         "-A X -i lo -p tcp -m mark ! --mark 0x53a -j RETURN"),
        ("0     0 ISTIO_DIVERT  6    --  *      *       0.0.0.0/0            0.0.0.0/0            ctstate RELATED,ESTABLISHED",
         "-A X -p tcp -m conntrack --ctstate RELATED,ESTABLISHED -j ISTIO_DIVERT"),
        ("0     0 CT         17   --  *      *       10.96.0.10           0.0.0.0/0            udp spt:53 CT zone 1",
         "-A X -s 10.96.0.10/32 -p udp -m udp --sport 53 -j CT --zone 1"),
        ("0     0 ISTIO_OUTPUT  0    --  *      *       0.0.0.0/0            0.0.0.0/0            /* meshcap */",
         "-A X -m comment --comment meshcap -j ISTIO_OUTPUT"),
        ("0     0            6    --  *      *       0.0.0.0/0            0.0.0.0/0            /* two words */ multiport dports 80,443",
         "-A X -p tcp -m comment --comment \"two words\" -m multiport --dports 80,443"),
        ("0     0 ISTIO_OUTPUT  0    --  *      *       0.0.0.0/0            0.0.0.0/0           [goto]  ADDRTYPE match dst-type LOCAL",
         "-A X ADDRTYPE match dst-type LOCAL -g ISTIO_OUTPUT"),
    ])
    func listingLinesReadAsSaved(_ line: String, _ saved: String) throws {
        let fail: (String) -> DumpError = { DumpError(name: "x", line: 1, problem: $0, allowed: "") }
        let listed = try IptablesListing.rule(Substring(line), chain: "X", numbered: false, fail)
        #expect(listed.saved.text == saved)
        let family: Family = line.contains("::") ? .ipv6 : .ipv4
        let parsed = IptablesSave.parse("*t\n:X - [0:0]\n\(saved)\nCOMMIT\n", family: family).tables.first?.chains.first?.rules.first
        #expect(listed.saved.rule == parsed?.rule && listed.saved.tagged == parsed?.tagged)
    }

    /// The table a listing is in, from its built-in chains, else from meshcap's chains and targets.
    @Test func tablesAreToldApart() throws {
        func tables(_ text: String) throws -> [String] {
            try SavedDump.read(text, name: "x").rules.map { "\($0.family == .ipv6 ? "6" : "4") \($0.table) \($0.chain)" }
        }
        func chain(_ name: String, policy: Bool = true, _ rules: String...) -> String {
            "Chain \(name) (\(policy ? "policy ACCEPT 0 packets, 0 bytes" : "1 references"))\n pkts bytes target     prot opt in     out     source               destination\n"
                + rules.map { "    0     0 \($0)\n" }.joined() + "\n"
        }
        let any4 = "0.0.0.0/0            0.0.0.0/0", any6 = "::/0                 ::/0"
        // raw then nat, one family; a new PREROUTING begins the next table.
        let text = chain("PREROUTING", "ISTIO_INBOUND  0    --  *      *       \(any4)") + chain("OUTPUT")
            + chain("PREROUTING", "ISTIO_INBOUND  6    --  *      *       \(any4)") + chain("INPUT") + chain("OUTPUT") + chain("POSTROUTING")
            + chain("PREROUTING", "ISTIO_INBOUND  6    --  *      *       \(any6)") + chain("INPUT") + chain("OUTPUT") + chain("POSTROUTING")
        #expect(try tables(text) == ["4 raw PREROUTING", "4 nat PREROUTING", "6 nat PREROUTING"])
        // Only meshcap's chains listed: their names and targets say which table.
        #expect(try tables(chain("ISTIO_TPROXY", policy: false, "TPROXY     6    --  *      *       \(any4)  TPROXY redirect 0.0.0.0:15006 mark 0x539/0xffffffff"))
                == ["4 mangle ISTIO_TPROXY"])
        #expect(try tables(chain("ISTIO_OUTPUT_DNS", policy: false, "CT         17   --  *      *       \(any4)  udp dpt:53 CT zone 2")) == ["4 raw ISTIO_OUTPUT_DNS"])
        #expect(throws: DumpError.self) { try tables(chain("ISTIO_INBOUND", policy: false, "RETURN     6    --  *      *       \(any4)  tcp dpt:22")) }
    }
}
