import CNftnl
import MeshCapture

/// One reading of meshcap's inet tables, as the kernel holds them, with what runs beside them:
/// the nft dialect's `Reading`. A live host reads it over netlink (HostOps `RuleDump`); a
/// stand-in host keeps one in memory.
public struct NftSnapshot: Sendable {
    /// The ruleset generation all of it belongs to: a batch bound to it is refused if anything
    /// changed since.
    public let generation: UInt32
    /// meshcap's tables' chains and rules.
    public let chains: [DumpedChain]
    public let rules: [DumpedRule]
    /// Other tables' base chains that may run before meshcap's (`NftDialect.contenders`), with
    /// how many rules each holds.
    public let contenders: [(chain: DumpedChain, rules: Int)]
    /// Readings thrown away because the ruleset changed while they ran (a reader's statistic:
    /// the dump-consistency test proves the retry ran with it).
    public let interruptions: Int

    public init(generation: UInt32, chains: [DumpedChain], rules: [DumpedRule], contenders: [(chain: DumpedChain, rules: Int)] = [],
                interruptions: Int = 0) {
        self.generation = generation
        self.chains = chains
        self.rules = rules
        self.contenders = contenders
        self.interruptions = interruptions
    }

    public func with(contenders: [(chain: DumpedChain, rules: Int)]) -> NftSnapshot {
        NftSnapshot(generation: generation, chains: chains, rules: rules, contenders: contenders, interruptions: interruptions)
    }
}

/// A rule as the kernel holds it: where it is, its bytecode, what it means in the model, and
/// its counter. `verify` and `diff` build on this.
public struct DumpedRule: Sendable {
    public let table: String
    public let chain: String
    public let handle: UInt64
    /// nil when one of them is of a kind meshcap never writes.
    public let expressions: [NftExpression]?
    /// nil for bytecode meshcap does not write (another tool's rule, or a hand edit).
    public let rule: Rule?
    public let packets: UInt64
    public let bytes: UInt64
    /// For a rule that is not meshcap's, its bytecode as `nft --debug=netlink` prints it (how it
    /// is shown); nil for meshcap's (printing every rule would cost more than reading them).
    public let bytecode: String?
    /// For a rule that looks up a named set: each element's counter.
    public let elements: [ElementCount]
    /// Whether it holds a counter expression at all: one without counts nothing (not zero).
    public var counted: Bool { expressions?.contains { if case .counter = $0 { true } else { false } } ?? true }

    public init(table: String, chain: String, handle: UInt64, expressions: [NftExpression]?, rule: Rule?,
                packets: UInt64, bytes: UInt64, bytecode: String?, elements: [ElementCount]) {
        self.table = table
        self.chain = chain
        self.handle = handle
        self.expressions = expressions
        self.rule = rule
        self.packets = packets
        self.bytes = bytes
        self.bytecode = bytecode
        self.elements = elements
    }
}

/// A chain as the kernel holds it, in any table of any family.
public struct DumpedChain: Sendable, Hashable {
    public let family: UInt32
    public let table: String
    public let name: String
    /// `nat`, `filter`, `route` for a base chain; nil for a regular one.
    public let type: String?
    public let hook: Hook?
    public let priority: Int32?
    public let policy: UInt32?

    /// A chain read from a saved `nft list ruleset`, its family by nft's name for it (`inet`,
    /// `ip`, `ip6`, `arp`, `bridge`, `netdev`); nil for a family nft does not name.
    public init?(family: String, table: String, name: String, type: String?, hook: Hook?, priority: Int32?) {
        let families = ["ip": NFPROTO_IPV4, "ip6": NFPROTO_IPV6, "inet": NFPROTO_INET, "arp": NFPROTO_ARP,
                        "bridge": NFPROTO_BRIDGE, "netdev": NFPROTO_NETDEV]
        guard let number = families[family] else { return nil }
        self.init(family: UInt32(number), table: table, name: name, type: type, hook: hook, priority: priority, policy: nil)
    }

    public init(family: UInt32, table: String, name: String, type: String?, hook: Hook?, priority: Int32?, policy: UInt32?) {
        self.family = family
        self.table = table
        self.name = name
        self.type = type
        self.hook = hook
        self.priority = priority
        self.policy = policy
    }
}

