/// An ordered list of matches and one target.
public struct Rule: Sendable, Hashable {
    public let matches: [Match]
    public let target: Target

    public init(_ matches: Match..., then target: Target) {
        self.init(matches: matches, target: target)
    }

    public init(matches: [Match], target: Target) {
        self.matches = matches
        self.target = target
    }

    /// The family an address match ties this rule to; nil when it applies to every family.
    public var family: Family? { matches.lazy.compactMap(\.family).first }
}
