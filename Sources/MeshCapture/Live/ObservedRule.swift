/// A rule as read from a host or a saved dump, the same shape for every dialect: where it is,
/// whose it is, what it means in the model when it is meshcap's, and its counters. The one
/// comparison (`verify`, `diff`, `explain --live`) works on these.
public struct ObservedRule: Sendable {
    public enum Owner: Sendable, Hashable {
        /// Written by meshcap (in its own chain or table, or with its comment).
        case meshcap
        /// Istio's form of one of meshcap's rules, without the comment: a jump from a built-in chain
        /// into an ISTIO chain, left by istio-iptables.
        case istio
        /// Somebody else's.
        case other
    }

    /// The iptables family; nil for nft (`inet` holds both).
    public let family: Family?
    /// The table as the dialect names it (`nat`, `istio-proxy-nat`).
    public let table: String
    /// The chain as the dialect names it.
    public let chain: String
    /// The same two in the model's terms: which of its tables (nil for another program's table),
    /// and the chain (a hook's built-in chain, or a regular one by Istio's name).
    public let tableKind: TableKind?
    public let chainName: ChainName
    public let owner: Owner
    /// The model's rule when meshcap wrote it (canonical form), else nil.
    public let rule: Rule?
    let rendering: Rendering
    public let packets: UInt64
    public let bytes: UInt64
    /// Whether the rule counts at all: one without a counter (Istio's nft rules until istio/istio#57216)
    /// has no packets to tell, which is not zero.
    public let counted: Bool
    /// For a rule that looks up a named set: each element's counter (the rows `verify` shows for
    /// it). Each lookup that matches counts on its element, whichever rule made it (TPROXY's two
    /// rules share the inbound set).
    public let elements: [ElementCount]

    /// A rule with its text as read (iptables-save, a dump).
    public init(family: Family?, table: String, chain: String, tableKind: TableKind?, chainName: ChainName,
                owner: Owner, rule: Rule?, text: String, packets: UInt64, bytes: UInt64, counted: Bool = true, elements: [ElementCount] = []) {
        self.init(family: family, table: table, chain: chain, tableKind: tableKind, chainName: chainName, owner: owner,
                  rule: rule, rendering: .text(text), packets: packets, bytes: bytes, counted: counted, elements: elements)
    }

    /// One of meshcap's rules whose text is rendered only when asked (nft: rendering 10,000
    /// statements costs more than reading them).
    public init(family: Family?, table: String, chain: String, tableKind: TableKind?, chainName: ChainName,
                owner: Owner, rule: Rule, render: @escaping @Sendable (Rule) -> String, packets: UInt64, bytes: UInt64,
                counted: Bool = true, elements: [ElementCount] = []) {
        self.init(family: family, table: table, chain: chain, tableKind: tableKind, chainName: chainName, owner: owner,
                  rule: rule, rendering: .rendered(render), packets: packets, bytes: bytes, counted: counted, elements: elements)
    }

    init(family: Family?, table: String, chain: String, tableKind: TableKind?, chainName: ChainName,
         owner: Owner, rule: Rule?, rendering: Rendering, packets: UInt64, bytes: UInt64, counted: Bool, elements: [ElementCount]) {
        self.counted = counted
        self.elements = elements
        self.family = family
        self.table = table
        self.chain = chain
        self.tableKind = tableKind
        self.chainName = chainName
        self.owner = owner
        self.rule = rule
        self.rendering = rendering
        self.packets = packets
        self.bytes = bytes
    }

    enum Rendering: Sendable {
        case text(String)
        case rendered(@Sendable (Rule) -> String)
    }

    /// The rule in the dialect's own syntax.
    public var text: String {
        switch rendering {
        case .text(let text): text
        case .rendered(let render): rule.map(render) ?? ""
        }
    }

    /// The same rule in another form (the one a reading shows it in), its place and counters kept.
    public func with(rule: Rule) -> ObservedRule {
        ObservedRule(family: family, table: table, chain: chain, tableKind: tableKind, chainName: chainName, owner: owner,
                     rule: rule, rendering: rendering, packets: packets, bytes: bytes, counted: counted, elements: elements)
    }

    /// nft's rules have no family (an inet table holds both); an iptables rule is its family's.
    public func belongs(to layout: Layout) -> Bool {
        switch layout {
        case .inet: family == nil
        case .xtables(let own): family == own
        }
    }
}

/// One element of a named set and what its counter holds.
public struct ElementCount: Sendable, Hashable {
    public let element: SetElement
    public let packets: UInt64
    public let bytes: UInt64

    public init(_ element: SetElement, packets: UInt64, bytes: UInt64) {
        self.element = element
        self.packets = packets
        self.bytes = bytes
    }
}

/// Another program's rule or chain that sees packets before meshcap's and could decide their fate.
public struct Ahead: Sendable, Hashable {
    /// Where it is and why it matters, in one sentence.
    public let sentence: String
    /// What it has taken so far, where its counter says so: a rule that ends a packet's way
    /// (ACCEPT, DROP, REDIRECT ...). nil for a jump, whose counter counts what it passed on
    /// whether its chain kept it or not, and for another nft chain (its verdicts are not read).
    public let packets: UInt64?

    public init(sentence: String, packets: UInt64?) {
        self.sentence = sentence
        self.packets = packets
    }
}

/// A chain as read, for what is compared besides the rules: that meshcap's chains are there,
/// and declared as the config declares them (an nft base chain's type, hook, priority and
/// policy). In iptables' built-in chains the policy is the host's, not meshcap's.
public struct ObservedChain: Sendable, Hashable {
    /// The iptables family; nil for nft.
    public let family: Family?
    public let table: String
    public let chain: String
    public let tableKind: TableKind
    public let chainName: ChainName
    /// Whether the chain is meshcap's (an ISTIO chain, or any chain of meshcap's nft tables),
    /// rather than a built-in chain meshcap only adds rules to.
    public let meshcaps: Bool
    /// How it is declared, in the dialect's words (" (type nat hook output priority -100)"); nil
    /// for a regular chain.
    public let declaration: String?

    public init(family: Family?, table: String, chain: String, tableKind: TableKind, chainName: ChainName, meshcaps: Bool, declaration: String?) {
        self.family = family
        self.table = table
        self.chain = chain
        self.tableKind = tableKind
        self.chainName = chainName
        self.meshcaps = meshcaps
        self.declaration = declaration
    }

    public var layout: Layout { family.map(Layout.xtables) ?? .inet }
}
