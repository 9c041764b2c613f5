/// `diff -u` of two texts, line by line (Myers' O(ND) algorithm: fast when the texts are alike,
/// which is the case drift detection cares about).
public enum UnifiedDiff {
    enum Edit: Equatable {
        case same(String)
        case removed(String)
        case added(String)
    }

    /// The diff of two lists of lines, with `context` lines around each change; empty when the
    /// lists are equal.
    public static func of(_ a: [String], _ b: [String], oldLabel: String, newLabel: String, context: Int = 3) -> String {
        let edits = script(a, b)
        guard edits.contains(where: { if case .same = $0 { false } else { true } }) else { return "" }
        var out = ["--- \(oldLabel)", "+++ \(newLabel)"]
        // Group changes with their context into hunks.
        let changed = edits.indices.filter { if case .same = edits[$0] { false } else { true } }
        var hunks: [ClosedRange<Int>] = []
        for index in changed {
            let range = max(0, index - context)...min(edits.count - 1, index + context)
            if let last = hunks.last, range.lowerBound <= last.upperBound + 1 {
                hunks[hunks.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                hunks.append(range)
            }
        }
        for hunk in hunks {
            var oldStart = 1, newStart = 1
            for edit in edits[..<hunk.lowerBound] {
                switch edit {
                case .same: oldStart += 1; newStart += 1
                case .removed: oldStart += 1
                case .added: newStart += 1
                }
            }
            let lines = edits[hunk]
            let oldCount = lines.filter { if case .added = $0 { false } else { true } }.count
            let newCount = lines.filter { if case .removed = $0 { false } else { true } }.count
            // As diff -u writes ranges: an empty one starts at the line before, a count of 1 is left out.
            func range(_ start: Int, _ count: Int) -> String { count == 1 ? "\(start)" : "\(count == 0 ? start - 1 : start),\(count)" }
            out.append("@@ -\(range(oldStart, oldCount)) +\(range(newStart, newCount)) @@")
            for edit in lines {
                switch edit {
                case .same(let line): out.append(" " + line)
                case .removed(let line): out.append("-" + line)
                case .added(let line): out.append("+" + line)
                }
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// The shortest edit script turning `a` into `b`.
    static func script(_ a: [String], _ b: [String]) -> [Edit] {
        let n = a.count, m = b.count, max = n + m
        guard max > 0 else { return [] }
        var v = [Int](repeating: 0, count: 2 * max + 2)
        var trace: [[Int]] = []
        outer: for d in 0...max {
            trace.append(v)
            for k in stride(from: -d, through: d, by: 2) {
                var x = k == -d || (k != d && v[max + k - 1] < v[max + k + 1]) ? v[max + k + 1] : v[max + k - 1] + 1
                var y = x - k
                while x < n && y < m && a[x] == b[y] { x += 1; y += 1 }
                v[max + k] = x
                if x >= n && y >= m { break outer }
            }
        }
        // Walk the trace back from the end.
        var edits: [Edit] = []
        var x = n, y = m
        for d in stride(from: trace.count - 1, through: 0, by: -1) {
            let v = trace[d]
            let k = x - y
            let previousK = k == -d || (k != d && v[max + k - 1] < v[max + k + 1]) ? k + 1 : k - 1
            let previousX = v[max + previousK], previousY = previousX - previousK
            while x > previousX && y > previousY {
                edits.append(.same(a[x - 1])); x -= 1; y -= 1
            }
            if d > 0 {
                if x == previousX { edits.append(.added(b[y - 1])); y -= 1 } else { edits.append(.removed(a[x - 1])); x -= 1 }
            }
        }
        return edits.reversed()
    }
}
