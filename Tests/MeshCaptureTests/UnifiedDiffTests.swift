import Foundation
import Testing
@testable import MeshCapture
import TestSupport

@Suite struct UnifiedDiffTests {
    /// Random line lists (seeded) that differ in fewer than `EditScript.exactLimit` lines: the
    /// script turns one into the other, and is as short as the longest common subsequence allows.
    @Test func theEditScriptIsCorrectAndShortest() {
        var random = SeededRandom.forTest(#function)
        for round in 0..<300 {
            let alphabet = ["a", "b", "c", "d"]
            let a = (0..<Int.random(in: 0...12, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            let b = (0..<Int.random(in: 0...12, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            let script = EditScript.between(a, b)
            #expect(Self.sides(of: script) == (a, b), "seed \(SeededRandom.seed), round \(round)")
            let kept = script.filter { if case .same = $0 { true } else { false } }.count
            #expect(kept == longestCommonSubsequence(a, b), "not the shortest script; seed \(SeededRandom.seed), round \(round)")
        }
    }

    func longestCommonSubsequence(_ a: [String], _ b: [String]) -> Int {
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0..<a.count {
            for j in 0..<b.count {
                table[i + 1][j + 1] = a[i] == b[j] ? table[i][j] + 1 : max(table[i][j + 1], table[i + 1][j])
            }
        }
        return table[a.count][b.count]
    }

    /// Random line lists (seeded) of up to 3,000 lines, from few distinct lines (most repeated)
    /// to all distinct, changed in a few places or rewritten: every path of the script (shortest,
    /// anchored, replaced, out of budget) is taken, and the diff, applied to the old lines as
    /// patch(1) applies it, gives the new ones.
    @Test func applyingTheDiffToTheOldLinesGivesTheNew() throws {
        var random = SeededRandom.forTest(#function)
        for round in 0..<200 {
            let distinct = [2, 10, 1_000, 100_000].randomElement(using: &random)!
            func line() -> String { "line \(Int.random(in: 0..<distinct, using: &random))" }
            let a = (0..<Int.random(in: 0...3_000, using: &random)).map { _ in line() }
            // Each old line kept, dropped or replaced, and new ones put in, at a rate from
            // almost none to almost all.
            let rate = [0.001, 0.01, 0.1, 0.5, 0.95].randomElement(using: &random)!
            var b: [String] = []
            for old in a {
                if Double.random(in: 0..<1, using: &random) < rate / 2 { b.append(line()) }
                let roll = Double.random(in: 0..<1, using: &random)
                if roll >= rate { b.append(old) } else if roll >= rate / 2 { b.append(line()) }
            }
            let diff = UnifiedDiff.of(a, b, oldLabel: "old", newLabel: "new")
            let patched = try Self.patch(a, with: diff)
            #expect(patched == b, "seed \(SeededRandom.seed), round \(round): \(a.count) lines, \(distinct) distinct, rate \(rate)")
            #expect(diff.isEmpty == (a == b))
            // Out of budget anywhere, the rest replaced wholesale: still a script from a to b.
            let script = EditScript.between(a, b, budget: Int.random(in: 0...20_000, using: &random))
            #expect(Self.sides(of: script) == (a, b), "seed \(SeededRandom.seed), round \(round), with a small budget")
        }
    }

    /// The old lines a script keeps or removes, and the new ones it keeps or adds.
    static func sides(of script: [EditScript.Edit]) -> ([String], [String]) {
        let old = script.compactMap { if case .same(let l) = $0 { l } else if case .removed(let l) = $0 { l } else { nil } }
        let new = script.compactMap { if case .same(let l) = $0 { l } else if case .added(let l) = $0 { l } else { nil } }
        return (old, new)
    }

    struct PatchFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// A unified diff applied strictly: each hunk where its header says, its counts its lines',
    /// its context and removed lines those of the old text at that place.
    static func patch(_ old: [String], with diff: String) throws -> [String] {
        if diff.isEmpty { return old }
        var lines = diff.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.last == "", lines.count >= 3, lines[0].hasPrefix("--- "), lines[1].hasPrefix("+++ ") else {
            throw PatchFailure(description: "no diff header, or no final newline")
        }
        lines.removeLast()
        var new: [String] = []
        var used = 0
        var index = 2
        func range(_ text: Substring) throws -> (start: Int, count: Int) {
            let parts = text.dropFirst().split(separator: ",")
            guard let start = Int(parts[0]), let count = parts.count > 1 ? Int(parts[1]) : 1 else {
                throw PatchFailure(description: "bad range \(text)")
            }
            return (start, count)
        }
        while index < lines.count {
            let header = lines[index].split(separator: " ")
            guard header.count == 4, header[0] == "@@", header[3] == "@@" else { throw PatchFailure(description: "bad hunk header \(lines[index])") }
            let (oldStart, oldCount) = try range(header[1]), (newStart, newCount) = try range(header[2])
            // An empty range names the line before it.
            let first = oldCount == 0 ? oldStart : oldStart - 1
            guard first >= used, first <= old.count else { throw PatchFailure(description: "hunk \(lines[index]) is out of order") }
            new += old[used..<first]
            used = first
            guard new.count == (newCount == 0 ? newStart : newStart - 1) else {
                throw PatchFailure(description: "hunk \(lines[index]) says the new text is at line \(newStart), but it is at \(new.count + 1)")
            }
            index += 1
            var (removed, added) = (0, 0)
            while removed < oldCount || added < newCount {
                guard index < lines.count, let mark = lines[index].first else { throw PatchFailure(description: "hunk ends early") }
                let text = String(lines[index].dropFirst())
                switch mark {
                case " ", "-":
                    guard used < old.count, old[used] == text else { throw PatchFailure(description: "line \(used + 1) is not \(text)") }
                    used += 1
                    removed += 1
                    if mark == " " { new.append(text); added += 1 }
                case "+":
                    new.append(text)
                    added += 1
                default: throw PatchFailure(description: "bad hunk line \(lines[index])")
                }
                index += 1
            }
            guard removed == oldCount, added == newCount else { throw PatchFailure(description: "hunk counts do not match its lines") }
        }
        return new + old[used...]
    }

    /// 10,000 set elements replaced by 10,000 others (the diff is every line), and 10,000 of
    /// which every other one changed (5,000 hunks): near-linear, where the whole search took
    /// 6 GiB and seconds. Generous bounds for a debug build on a busy machine.
    @Test func tenThousandChangedLinesAreDiffedInLinearTime() throws {
        let old = (0..<10_000).map { "\t\t10.\($0 >> 8).\($0 & 255).0" }
        let rewritten = (0..<10_000).map { "\t\t10.\($0 >> 8).\($0 & 255).1" }
        let everyOther = old.indices.map { $0.isMultiple(of: 2) ? old[$0] : rewritten[$0] }
        for new in [rewritten, everyOther] {
            let clock = ContinuousClock()
            var diff = ""
            let elapsed = clock.measure { diff = UnifiedDiff.of(old, new, oldLabel: "live", newLabel: "config") }
            #expect(elapsed < .seconds(3), "\(elapsed)")
            #expect(try Self.patch(old, with: diff) == new)
        }
    }

    @Test func hunksLookLikeDiffU() {
        let old = (1...10).map { "line \($0)" }
        let new = old.map { $0 == "line 5" ? "line five" : $0 }
        #expect(UnifiedDiff.of(old, new, oldLabel: "live", newLabel: "config") == """
            --- live
            +++ config
            @@ -2,7 +2,7 @@
             line 2
             line 3
             line 4
            -line 5
            +line five
             line 6
             line 7
             line 8

            """)
        #expect(UnifiedDiff.of(old, old, oldLabel: "a", newLabel: "b").isEmpty)
    }

    /// As `diff -u /dev/null file` prints it: no stray context or removed lines.
    @Test func fromNothing() {
        #expect(UnifiedDiff.of([], ["a", "b"], oldLabel: "live", newLabel: "config") == "--- live\n+++ config\n@@ -0,0 +1,2 @@\n+a\n+b\n")
        #expect(UnifiedDiff.of(["a"], [], oldLabel: "live", newLabel: "config") == "--- live\n+++ config\n@@ -1 +0,0 @@\n-a\n")
    }
}
