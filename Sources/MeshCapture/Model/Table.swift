/// The iptables table a chain lives in. nftables has no fixed tables; the nft renderer gives
/// each kind its own `inet` table with base chains of the matching type and priority.
public enum TableKind: String, Sendable, Hashable, CaseIterable {
    case nat
    case mangle
    case raw

    /// Where the table's chains run at a hook, as the kernel orders iptables' tables
    /// (NF_IP_PRI_*): raw -300, mangle -150, nat -100 where destinations are rewritten
    /// (PREROUTING, OUTPUT) and 100 where sources are (INPUT, POSTROUTING). meshcap's nft base
    /// chains take the same numbers, so their order against iptables' tables holds, and the
    /// packet walk runs the tables in this order.
    public func priority(at hook: Hook) -> Int {
        switch self {
        case .raw: -300
        case .mangle: -150
        case .nat: hook == .prerouting || hook == .output ? -100 : 100
        }
    }
}

public struct Table: Sendable, Hashable {
    public let kind: TableKind
    /// In declaration order; nftables lists chains in the order they were created.
    public let chains: [Chain]

    public init(kind: TableKind, chains: [Chain]) {
        self.kind = kind
        self.chains = chains
    }

    public func chain(_ name: ChainName) -> Chain? { chains.first { $0.name == name } }
}

/// Everything meshcap programs for one layout: the tables that have at least one rule.
public struct Ruleset: Sendable, Hashable {
    public let layout: Layout
    public let tables: [Table]

    public init(layout: Layout, tables: [Table]) {
        self.layout = layout
        self.tables = tables
    }

    public func table(_ kind: TableKind) -> Table? { tables.first { $0.kind == kind } }

    public var ruleCount: Int { tables.reduce(0) { $0 + $1.chains.reduce(0) { $0 + $1.rules.count } } }
}

extension Table {
    /// The named sets its rules look up, each once, in the order they are first used: a table
    /// holds its sets (nft declares them in the table).
    public var sets: [NamedSet] {
        var seen = Set<String>()
        return chains.flatMap(\.rules).flatMap(\.matches).compactMap(\.namedSet).filter { seen.insert($0.name).inserted }
    }
}
