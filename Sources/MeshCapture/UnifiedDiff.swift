/// `diff -u` of two texts, line by line, from an `EditScript` (the shortest one when the texts are
/// alike, which is the case drift detection cares about; near-linear however much they differ).
public enum UnifiedDiff {
    /// The diff of two lists of lines, with `context` lines around each change; empty when the
    /// lists are equal.
    public static func of(_ a: [String], _ b: [String], oldLabel: String, newLabel: String, context: Int = 3) -> String {
        let edits = EditScript.between(a, b)
        // Group changes with their context into hunks.
        var hunks: [ClosedRange<Int>] = []
        for (index, edit) in edits.enumerated() {
            if case .same = edit { continue }
            let range = max(0, index - context)...min(edits.count - 1, index + context)
            if let last = hunks.last, range.lowerBound <= last.upperBound + 1 {
                hunks[hunks.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                hunks.append(range)
            }
        }
        guard !hunks.isEmpty else { return "" }
        var out = ["--- \(oldLabel)", "+++ \(newLabel)"]
        // The line numbers where the next edit is, moved along once over the whole script.
        var oldLine = 1, newLine = 1, position = 0
        func advance(to end: Int) {
            while position < end {
                switch edits[position] {
                case .same: oldLine += 1; newLine += 1
                case .removed: oldLine += 1
                case .added: newLine += 1
                }
                position += 1
            }
        }
        for hunk in hunks {
            advance(to: hunk.lowerBound)
            let (oldStart, newStart) = (oldLine, newLine)
            advance(to: hunk.upperBound + 1)
            let (oldCount, newCount) = (oldLine - oldStart, newLine - newStart)
            // As diff -u writes ranges: an empty one starts at the line before, a count of 1 is left out.
            func range(_ start: Int, _ count: Int) -> String { count == 1 ? "\(start)" : "\(count == 0 ? start - 1 : start),\(count)" }
            out.append("@@ -\(range(oldStart, oldCount)) +\(range(newStart, newCount)) @@")
            for edit in edits[hunk] {
                switch edit {
                case .same(let line): out.append(" " + line)
                case .removed(let line): out.append("-" + line)
                case .added(let line): out.append("+" + line)
                }
            }
        }
        return out.joined(separator: "\n") + "\n"
    }
}
