import Foundation
import Testing
import TestSupport

/// `meshcap diff` when a large config was replaced wholesale: every line of the set differs.
@Suite struct DiffScaleTests {
    /// 10,000 /32s live and 10,000 others configured: the diff names all 20,000 elements, in a
    /// fraction of a second and a few MiB (a search quadratic in the differences took 14 s and
    /// 6 GiB). Measured by GNU time, which reports the child's own peak RSS (one spawned straight
    /// from the test process would start with the test's); bounds generous for a debug build.
    @Test(.needsRoot) func tenThousandReplacedPrefixesAreDiffedInLittleTimeAndMemory() throws {
        let ns = try Namespace("diffscale")
        let files = try temporaryDirectory("diff-scale")
        defer { try? FileManager.default.removeItem(at: files) }
        // Every other address, so that no two prefixes of a list join into a shorter one.
        func config(_ name: String, odd: Int) throws -> String {
            let prefixes = (0..<10_000).map { index in
                let n = 2 * index + odd
                return "10.\(n >> 16).\(n >> 8 & 255).\(n & 255)/32"
            }
            let url = files.appendingPathComponent(name)
            try "OUTBOUND_IPRANGES_INCLUDE=\(prefixes.joined(separator: ","))\n".write(to: url, atomically: true, encoding: .utf8)
            return url.path
        }
        let (live, wanted) = (try config("live.env", odd: 0), try config("wanted.env", odd: 1))
        let applied = try meshcapIn(ns, ["apply", "--config", live, "--passwd-file", "/dev/null"])
        #expect(applied.status == 0, "\(applied.stderr)")

        let usage = files.appendingPathComponent("usage").path
        let diff = try run("/usr/bin/time", ["-f", "%e %M", "-o", usage, meshcap, "diff", "--netns", ns.name, "--config", wanted, "--passwd-file", "/dev/null"])
        #expect(diff.status == 1, "\(diff.stderr)")
        let lines = diff.stdout.split(separator: "\n")
        #expect(lines.count { $0.hasPrefix("-\t\t10.") } == 10_000)
        #expect(lines.count { $0.hasPrefix("+\t\t10.") } == 10_000)
        // GNU time says "Command exited with non-zero status 1" on a line before its own.
        let measured = try String(contentsOfFile: usage, encoding: .utf8).split(separator: "\n").last?.split(separator: " ") ?? []
        let seconds = try #require(measured.first.flatMap { Double($0) }), kib = try #require(measured.last.flatMap { Int($0) })
        print("diff of 10,000 replaced prefixes: \(seconds) s, \(kib / 1024) MiB peak")
        #expect(seconds < 5)
        #expect(kib < 128 * 1024)
    }
}
