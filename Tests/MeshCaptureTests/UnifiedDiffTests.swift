import Testing
@testable import MeshCapture
import TestSupport

@Suite struct UnifiedDiffTests {
    /// Random line lists (seeded): the script turns one into the other, and is as short as the
    /// longest common subsequence allows.
    @Test func theEditScriptIsCorrectAndShortest() {
        var random = SeededRandom.forTest(#function)
        for round in 0..<300 {
            let alphabet = ["a", "b", "c", "d"]
            let a = (0..<Int.random(in: 0...12, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            let b = (0..<Int.random(in: 0...12, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            let script = UnifiedDiff.script(a, b)
            let old = script.compactMap { if case .same(let l) = $0 { l } else if case .removed(let l) = $0 { l } else { nil } }
            let new = script.compactMap { if case .same(let l) = $0 { l } else if case .added(let l) = $0 { l } else { nil } }
            #expect(old == a && new == b, "seed \(SeededRandom.seed), round \(round)")
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
