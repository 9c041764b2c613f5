/// A named nftables interval set of one family's prefixes: how meshcap's tables hold a long CIDR
/// list, one lookup (`ip daddr @outbound-exclude-ipv4`) where Istio writes one rule per prefix.
/// A lookup costs the same for ten prefixes or ten thousand, and the element counters (up to
/// `NamedSet.elementCounterLimit` elements) keep `verify`'s count per CIDR. `ListLayout` says
/// when it is used.
public struct PrefixSet: Sendable, Hashable {
    public let name: String
    public let family: Family
    /// Aggregated (see `Aggregation`): sorted, none inside another, no two halves of one prefix.
    public let prefixes: [Prefix]

    /// The set of `prefixes` aggregated; all must be of `family`.
    public init(name: String, family: Family, prefixes: [Prefix]) {
        precondition(prefixes.allSatisfy { $0.family == family }, "a set holds one family")
        self.init(name: name, family: family, aggregated: Aggregation(prefixes).prefixes)
    }

    /// A set read back from a host: its elements as the kernel holds them.
    public init(name: String, family: Family, aggregated prefixes: [Prefix]) {
        self.name = name
        self.family = family
        self.prefixes = prefixes
    }
}

/// A prefix list as an interval set must hold it: sorted, without duplicates, without a prefix
/// inside another, and with two halves of one prefix joined (10.0.0.0/25 and 10.0.0.128/25 are
/// 10.0.0.0/24). The kernel refuses overlapping intervals; joining halves keeps every element a
/// CIDR, so `verify` still names each one as the config does. Adjacent prefixes that do not
/// make one CIDR stay two elements (an interval set allows touching intervals).
public struct Aggregation: Sendable, Hashable {
    /// An element that stands for more than one listed prefix, and those prefixes.
    public struct Merge: Sendable, Hashable {
        public let element: Prefix
        public let listed: [Prefix]
    }

    public let prefixes: [Prefix]
    /// In element order.
    public let merges: [Merge]

    public init(_ listed: [Prefix]) {
        // Each element with the listed prefixes it stands for.
        var stack: [(element: Prefix, listed: [Prefix])] = []
        for prefix in listed.sorted() {
            if let top = stack.last, top.element.contains(prefix) {
                stack[stack.count - 1].listed.append(prefix)
                continue
            }
            stack.append((prefix, [prefix]))
            // Sorted and disjoint: two halves of one prefix are neighbours on the stack, and the
            // joined prefix may in turn be the other half of the one before.
            while stack.count >= 2 {
                let upper = stack[stack.count - 1], lower = stack[stack.count - 2]
                guard upper.element.length == lower.element.length, let parent = lower.element.parent,
                      upper.element.parent == parent, upper.element != lower.element else { break }
                stack.removeLast(2)
                stack.append((parent, lower.listed + upper.listed))
            }
        }
        prefixes = stack.map(\.element)
        merges = stack.filter { $0.listed.count > 1 }.map { Merge(element: $0.element, listed: $0.listed) }
    }
}

extension Aggregation.Merge: CustomStringConvertible {
    /// "10.0.0.0/25 and 10.0.0.128/25 are one set element, 10.0.0.0/24"; "10.0.0.0/8 is listed twice".
    public var description: String {
        let distinct = listed.reduce(into: [Prefix]()) { if !$0.contains($1) { $0.append($1) } }
        if distinct == [element] { return "\(element) is listed \(listed.count == 2 ? "twice" : "\(listed.count) times")" }
        // A long run of prefixes is named by its first three.
        let names = distinct.count > 4 ? distinct.prefix(3).map(\.description) + ["\(distinct.count - 3) more"] : distinct.map(\.description)
        let list = names.dropLast().joined(separator: ", ") + " and " + names[names.count - 1]
        return distinct.contains(element) ? "\(list) are one set element, \(element) (\(distinct.count == 2 ? "the other lies" : "the others lie") inside it)"
            : "\(list) are one set element, \(element)"
    }
}
