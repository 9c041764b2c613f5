/// An ordered list of matches and one target, and what it is for.
///
/// Equality and hashing look at the matches and the target only: the purpose is the plan's
/// account of why a rule exists, not part of what the kernel runs.
public struct Rule: Sendable, Hashable {
    public let matches: [Match]
    public let target: Target
    /// What in the config this rule implements (see `Purpose`); nil for a rule read back from a
    /// host until it is recognised.
    public let purpose: Purpose?

    public init(_ matches: Match..., then target: Target) {
        self.init(matches: matches, target: target)
    }

    public init(matches: [Match], target: Target, purpose: Purpose? = nil) {
        self.matches = matches
        self.target = target
        self.purpose = purpose
    }

    /// This rule, saying what it is for.
    public func `for`(_ purpose: Purpose?) -> Rule { Rule(matches: matches, target: target, purpose: purpose) }

    /// A `--log` rule: it decides nothing.
    public var isLog: Bool { target.isLog }

    /// The family an address match ties this rule to; nil when it applies to every family.
    public var family: Family? { matches.lazy.compactMap(\.family).first }

    public static func == (lhs: Rule, rhs: Rule) -> Bool { lhs.matches == rhs.matches && lhs.target == rhs.target }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(matches)
        hasher.combine(target)
    }
}
