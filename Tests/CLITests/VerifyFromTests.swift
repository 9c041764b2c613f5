import Foundation
import Testing
import TestSupport

/// `meshcap verify --from`, as a user runs it: no root, no host read, exit 0 for a healthy dump,
/// 1 for a broken one, 2 with the file and line for one it cannot read.
@Suite struct VerifyFromTests {
    static let dumps = packageRoot.appendingPathComponent("Tests/VerifyTests/Dumps")

    @Test func aHealthyDumpFromAFileOrStandardInput() throws {
        let path = Self.dumps.appendingPathComponent("iptables-nft-save.txt").path
        let file = try run(meshcap, ["verify", "--from", path])
        #expect(file.status == 0 && file.stdout.hasPrefix("meshcap verify: iptables-save -c (\(path))") && file.stdout.contains("capture looks right"),
                "\(file.stdout)\(file.stderr)")
        let stdin = try run(meshcap, ["verify", "--from", "-", "--json"], input: try String(contentsOfFile: path, encoding: .utf8))
        #expect(stdin.status == 0 && stdin.stdout.contains(#""source": "iptables-save -c (stdin)""#), "\(stdin.stderr)")
    }

    @Test func aBrokenCaptureExitsOne() throws {
        let text = try String(contentsOf: Self.dumps.appendingPathComponent("nft-list-ruleset.txt"), encoding: .utf8)
        // Without the jump from the output hook, nothing reaches meshcap's outbound rules.
        let unhooked = text.replacingOccurrences(of: "counter packets 14 bytes 900 jump istio-output", with: "counter packets 14 bytes 900 return")
        #expect(unhooked != text)
        let result = try run(meshcap, ["verify", "--from", "-"], input: unhooked)
        #expect(result.status == 1 && result.stdout.contains("PROBLEM (missing-entry)"), "\(result.stdout)\(result.stderr)")
    }

    @Test func anUnreadableDumpExitsTwoWithItsLine() throws {
        let work = try temporaryDirectory("from")
        defer { try? FileManager.default.removeItem(at: work) }
        let file = work.appendingPathComponent("vm1.txt")
        try "*nat\n:OUTPUT ACCEPT [0:0]\n[1:60] -A OUTPUT -j ACCEPT\n".write(to: file, atomically: true, encoding: .utf8)
        let cut = try run(meshcap, ["verify", "--from", file.path])
        #expect(cut.status == 2 && cut.stdout.isEmpty, "\(cut.stdout)")
        #expect(cut.stderr.hasPrefix("meshcap: \(file.path):3: the dump ends inside table nat (line 1) without its COMMIT: it is cut short; allowed: "), "\(cut.stderr)")

        let fifo = work.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let refused = try run(meshcap, ["verify", "--from", fifo])
        #expect(refused.status == 2 && refused.stderr.contains("the saved dump \(fifo) is a FIFO, not a regular file"), "\(refused.stderr)")

        let binary = try run(meshcap, ["verify", "--from", "-"], input: "table inet x {\n\u{0}\n}\n")
        #expect(binary.status == 2 && binary.stderr.contains("stdin:2"), "\(binary.stderr)")
    }

    /// A listing cut inside its last line (`redir ports 15001` cut to `redir ports 1500`, which
    /// still reads as a rule) is refused; a count that is no count says why.
    @Test func aDumpCutInsideItsLastLineOrWithABadCountExitsTwo() throws {
        let work = try temporaryDirectory("from")
        defer { try? FileManager.default.removeItem(at: work) }
        let listing = try String(contentsOf: Self.dumps.appendingPathComponent("iptables-nft-nvL.txt"), encoding: .utf8)
        let redirect = try #require(listing.firstRange(of: "redir ports 15001\n"))
        let cut = String(listing[..<redirect.upperBound].dropLast(2))
        let file = work.appendingPathComponent("cut.txt")
        try cut.write(to: file, atomically: true, encoding: .utf8)
        let lines = cut.split(separator: "\n", omittingEmptySubsequences: false).count
        let result = try run(meshcap, ["verify", "--from", file.path])
        #expect(result.status == 2 && result.stdout.isEmpty, "\(result.stdout)")
        #expect(result.stderr.hasPrefix("meshcap: \(file.path):\(lines): `") && result.stderr.contains("has no line end: the dump stops inside this line"),
                "\(result.stderr)")

        let json = try String(contentsOf: Self.dumps.appendingPathComponent("nft-json-list-ruleset.json"), encoding: .utf8)
        let packets = try #require(json.firstRange(of: #/"packets": [0-9]+/#))
        let quoted = json.replacingCharacters(in: packets, with: #""packets": "5""#)
        let bad = try run(meshcap, ["verify", "--from", "-"], input: quoted)
        #expect(bad.status == 2 && bad.stderr.contains(#": "5" is a string, not a number; allowed: "#), "\(bad.stderr)")
    }

    @Test func liveOnlyOptionsAreRefused() throws {
        for options in [["--watch", "1"], ["--reset"]] {
            let result = try run(meshcap, ["verify", "--from", "x"] + options)
            #expect(result.status == 2 && result.stderr.contains("--from reads a saved dump once"), "\(result.stderr)")
        }
        let twice = try run(meshcap, ["verify", "--from", "-", "--config", "-"])
        #expect(twice.status == 2 && twice.stderr.contains("only one can be standard input"), "\(twice.stderr)")
    }

    /// `--prometheus FILE` writes through `TextFile.replace` too: a regular file is replaced, and
    /// the same refusal keeps a device (or a link to one) from becoming a plain file.
    @Test(.needsRoot) func thePrometheusFileIsOnlyARegularFile() throws {
        let work = try temporaryDirectory("prometheus")
        defer { try? FileManager.default.removeItem(at: work) }
        let dump = Self.dumps.appendingPathComponent("iptables-nft-save.txt").path
        let file = work.appendingPathComponent("meshcap.prom").path
        let written = try run(meshcap, ["verify", "--from", dump, "--prometheus", file])
        #expect(written.status == 0, "\(written.stderr)")
        #expect(try String(contentsOfFile: file, encoding: .utf8).contains("meshcap_packets_total"))
        let special = try SpecialFiles(in: work)
        for (path, kind) in special.entries {
            let before = SpecialFiles.identity(path)
            let result = try run(meshcap, ["verify", "--from", dump, "--prometheus", path])
            #expect(result.status == 2 && result.stderr.contains("meshcap: \(path) is \(kind)"), "\(path): \(result.stderr)")
            #expect(SpecialFiles.identity(path) == before, "\(path) was replaced")
        }
    }
}
