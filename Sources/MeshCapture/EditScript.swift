/// The edits that turn one list of lines into another, in time and memory near-linear in the
/// number of lines however many of them differ.
///
/// A region where at most `exactLimit` lines differ gets the shortest script (Myers' greedy
/// search: its time grows with lines × differences and, keeping each step's frontier for the
/// walk back, its memory with differences², so it is only run that far). A region that differs
/// more is split at the lines that occur exactly once on each side, kept in the longest order
/// both sides agree on (patience diff), and each piece is diffed the same way. A piece with no
/// such line and many differences is written as all its old lines removed, then all its new ones
/// added: what a person reads anyway when 10,000 set elements were replaced by 10,000 others.
/// A budget of work proportional to the input bounds pathological inputs (many repeated lines)
/// the same way. Whatever the path, the script turns the old lines into the new ones.
struct EditScript {
    enum Edit: Equatable {
        case same(String)
        case removed(String)
        case added(String)
    }

    /// Differences up to which a region's script is the shortest.
    static let exactLimit = 64

    /// A region still to be written, in order: the pending list is a stack, so an anchored
    /// region's pieces are pushed last first.
    private enum Task {
        case region(Range<Int>, Range<Int>)
        /// `count` lines that are the same on both sides, from this old position.
        case common(Int, count: Int)
    }

    private let old: [String], new: [String]
    /// Each line as a number, equal lines equal numbers: compared and counted without hashing again.
    private let oldIDs: [Int], newIDs: [Int]
    /// Per line number, scratch for finding the lines unique to both sides of one region: kept
    /// at zero between regions.
    private var oldCounts: [Int32], newCounts: [Int32], newPosition: [Int]
    private var budget: Int
    private(set) var edits: [Edit] = []

    private init(_ old: [String], _ new: [String], budget: Int?) {
        self.old = old
        self.new = new
        var numbers: [String: Int] = [:]
        func number(_ line: String) -> Int {
            if let known = numbers[line] { return known }
            numbers[line] = numbers.count
            return numbers.count - 1
        }
        oldIDs = old.map(number)
        newIDs = new.map(number)
        oldCounts = Array(repeating: 0, count: numbers.count)
        newCounts = Array(repeating: 0, count: numbers.count)
        newPosition = Array(repeating: 0, count: numbers.count)
        // Enough for a shortest-script search to run to its limit over the whole input a few
        // times; only inputs built to defeat the anchors come near it.
        self.budget = budget ?? 4 * (Self.exactLimit + 1) * (old.count + new.count) + (1 << 16)
        edits.reserveCapacity(max(old.count, new.count))
    }

    /// - Parameter budget: the work allowed before what is left is replaced wholesale; tests
    ///   give a small one to run out of it anywhere.
    static func between(_ old: [String], _ new: [String], budget: Int? = nil) -> [Edit] {
        var script = EditScript(old, new, budget: budget)
        script.write()
        return script.edits
    }

    private mutating func write() {
        var pending: [Task] = [.region(0..<old.count, 0..<new.count)]
        while let task = pending.popLast() {
            switch task {
            case .common(let oldStart, let count):
                for index in oldStart..<oldStart + count { edits.append(.same(old[index])) }
            case .region(var oldRange, var newRange):
                while let o = oldRange.first, let n = newRange.first, oldIDs[o] == newIDs[n] {
                    edits.append(.same(old[o]))
                    oldRange = oldRange.dropFirst()
                    newRange = newRange.dropFirst()
                }
                var suffix = 0
                while suffix < min(oldRange.count, newRange.count),
                      oldIDs[oldRange.upperBound - suffix - 1] == newIDs[newRange.upperBound - suffix - 1] { suffix += 1 }
                oldRange = oldRange.lowerBound..<oldRange.upperBound - suffix
                newRange = newRange.lowerBound..<newRange.upperBound - suffix
                pending.append(.common(oldRange.upperBound, count: suffix))
                budget -= oldRange.count + newRange.count
                if oldRange.isEmpty || newRange.isEmpty || budget < 0 {
                    replace(oldRange, newRange)
                } else if let shortest = shortest(oldRange, newRange) {
                    edits += shortest
                } else {
                    let anchors = uniqueAnchors(oldRange, newRange)
                    guard !anchors.isEmpty else {
                        replace(oldRange, newRange)
                        continue
                    }
                    var oldEnd = oldRange.upperBound, newEnd = newRange.upperBound
                    for (o, n) in anchors.reversed() {
                        pending.append(.region(o + 1..<oldEnd, n + 1..<newEnd))
                        pending.append(.common(o, count: 1))
                        (oldEnd, newEnd) = (o, n)
                    }
                    pending.append(.region(oldRange.lowerBound..<oldEnd, newRange.lowerBound..<newEnd))
                }
            }
        }
    }

    /// Every old line removed, then every new one added.
    private mutating func replace(_ oldRange: Range<Int>, _ newRange: Range<Int>) {
        for index in oldRange { edits.append(.removed(old[index])) }
        for index in newRange { edits.append(.added(new[index])) }
    }

    /// Myers' shortest edit script for one region, or nil when more than `exactLimit` lines
    /// differ (or the budget runs out first). The frontier at the start of step d (diagonals
    /// -d...d) is kept at `history[d * d ..< (d + 1) * (d + 1)]` for the walk back.
    private mutating func shortest(_ oldRange: Range<Int>, _ newRange: Range<Int>) -> [Edit]? {
        let n = oldRange.count, m = newRange.count
        let limit = min(Self.exactLimit, n + m)
        let offset = limit + 1
        var frontier = [Int](repeating: 0, count: 2 * limit + 3)
        var history: [Int] = []
        for d in 0...limit {
            history += frontier[(offset - d)...(offset + d)]
            for k in stride(from: -d, through: d, by: 2) {
                var x = k == -d || (k != d && frontier[offset + k - 1] < frontier[offset + k + 1])
                    ? frontier[offset + k + 1] : frontier[offset + k - 1] + 1
                var y = x - k
                let start = x
                while x < n && y < m && oldIDs[oldRange.lowerBound + x] == newIDs[newRange.lowerBound + y] {
                    x += 1
                    y += 1
                }
                budget -= 1 + x - start
                frontier[offset + k] = x
                if x >= n && y >= m { return walkBack(oldRange, newRange, history: history, steps: d) }
            }
            if budget < 0 { return nil }
        }
        return nil
    }

    private func walkBack(_ oldRange: Range<Int>, _ newRange: Range<Int>, history: [Int], steps: Int) -> [Edit] {
        var backwards: [Edit] = []
        var x = oldRange.count, y = newRange.count
        for d in stride(from: steps, to: 0, by: -1) {
            func reached(_ k: Int) -> Int { history[d * d + k + d] }
            let k = x - y
            let previousK = k == -d || (k != d && reached(k - 1) < reached(k + 1)) ? k + 1 : k - 1
            let previousX = reached(previousK), previousY = previousX - previousK
            while x > previousX && y > previousY {
                backwards.append(.same(old[oldRange.lowerBound + x - 1]))
                x -= 1
                y -= 1
            }
            if x == previousX {
                backwards.append(.added(new[newRange.lowerBound + y - 1]))
                y -= 1
            } else {
                backwards.append(.removed(old[oldRange.lowerBound + x - 1]))
                x -= 1
            }
        }
        while x > 0 && y > 0 {
            backwards.append(.same(old[oldRange.lowerBound + x - 1]))
            x -= 1
            y -= 1
        }
        return backwards.reversed()
    }

    /// The lines that occur once in each side of the region, as (old, new) positions: the most
    /// of them that appear in the same order on both sides (a longest increasing subsequence of
    /// their new positions, by patience sorting).
    private mutating func uniqueAnchors(_ oldRange: Range<Int>, _ newRange: Range<Int>) -> [(Int, Int)] {
        for index in oldRange { oldCounts[oldIDs[index]] += 1 }
        for index in newRange {
            newCounts[newIDs[index]] += 1
            newPosition[newIDs[index]] = index
        }
        let candidates = oldRange.compactMap { index -> (Int, Int)? in
            let line = oldIDs[index]
            return oldCounts[line] == 1 && newCounts[line] == 1 ? (index, newPosition[line]) : nil
        }
        for index in oldRange { oldCounts[oldIDs[index]] = 0 }
        for index in newRange { newCounts[newIDs[index]] = 0 }

        // tails[i]: the candidate ending the best increasing run of length i + 1 found so far.
        var tails: [Int] = [], previous = [Int](repeating: -1, count: candidates.count)
        for (index, candidate) in candidates.enumerated() {
            var low = 0, high = tails.count
            while low < high {
                let middle = (low + high) / 2
                if candidates[tails[middle]].1 < candidate.1 { low = middle + 1 } else { high = middle }
            }
            if low > 0 { previous[index] = tails[low - 1] }
            if low == tails.count { tails.append(index) } else { tails[low] = index }
        }
        budget -= candidates.count
        var chain: [(Int, Int)] = []
        var index = tails.last ?? -1
        while index >= 0 {
            chain.append(candidates[index])
            index = previous[index]
        }
        return chain.reversed()
    }
}
