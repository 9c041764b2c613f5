/// A rule as the plan declares it: appended to its chain, or inserted at a position.
///
/// Istio declares some rules by position (`iptables -I CHAIN 2`, `nft insert rule ... index 1`).
/// A position counts the rules the reader of that table sees, and those differ by layout: an
/// ip6tables chain holds only the IPv6 rules, an `inet` chain holds both families. So positions
/// are kept as declared and resolved per layout, which reproduces Istio's order in each backend.
public struct ChainEntry: Sendable, Hashable {
    public enum Placement: Sendable, Hashable {
        case append
        case insert(at: Int)
    }

    public let rule: Rule
    public let placement: Placement
    /// Kept in a layout that carries the rule's family even when the config leaves that family
    /// off: for a rule that exempts what the layout's family-less rules capture anyway.
    public var everyFamily = false
}

extension Rule {
    /// This rule, inserted before the rule now at `index` (0 = head; past the end = append).
    public func inserted(at index: Int) -> ChainEntry { ChainEntry(rule: self, placement: .insert(at: index)) }

    /// This rule, appended, and kept for its family whatever the config's families are (see
    /// `ChainEntry.everyFamily`).
    public func forEveryFamily() -> ChainEntry { ChainEntry(rule: self, placement: .append, everyFamily: true) }
}

public struct ChainDeclaration: Sendable, Hashable {
    public let name: ChainName
    public let entries: [ChainEntry]
}

public struct TableDeclaration: Sendable, Hashable {
    public let kind: TableKind
    public let chains: [ChainDeclaration]
}

public struct RulesetDeclaration: Sendable, Hashable {
    public let tables: [TableDeclaration]

    public init(@RulesetBuilder _ body: () -> [TableDeclaration]) {
        self.tables = body()
    }
}

public func table(_ kind: TableKind, @TableBuilder _ body: () -> [ChainDeclaration]) -> TableDeclaration {
    TableDeclaration(kind: kind, chains: body())
}

public func chain(_ name: ChainName, @ChainBuilder _ body: () -> [ChainEntry]) -> ChainDeclaration {
    ChainDeclaration(name: name, entries: body())
}
