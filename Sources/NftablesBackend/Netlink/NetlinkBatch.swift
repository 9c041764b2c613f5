import CNftnl
import MeshCapture

/// One nf_tables transaction that replaces meshcap's tables with a ruleset: the same operations,
/// in the same order, as `nft -f` of the nft backend's script, so the kernel ends up with the same
/// objects and the same handles.
public struct NetlinkBatch: Sendable {
    public enum Operation: Sendable, Hashable {
        case addTable(TableKind)
        case deleteTable(TableKind)
        /// A table of iptables-nft's (`ip mangle`), which it made for meshcap's rules and which
        /// holds nothing any more.
        case deleteIptablesTable(Family, String)
        case addChain(TableKind, ChainName)
        case addSet(TableKind, AnonymousSet)
        case addElements(TableKind, AnonymousSet)
        case addNamedSet(TableKind, NamedSetMessages)
        /// One message's share of the set's prefixes or ports.
        case addNamedSetElements(TableKind, NamedSetMessages, Range<Int>)
        /// `index` counts from 1 within the chain, as error messages say it.
        case addRule(TableKind, ChainName, index: Int, Rule, [NftExpression])
    }

    public let operations: [Operation]

    public init(operations: [Operation]) { self.operations = operations }

    /// Create-if-missing and delete each of meshcap's tables named in `tables` (all three unless
    /// said otherwise), then build the ruleset's tables among them. Tables left out are not
    /// touched: their handles and counters stay.
    ///
    /// - Parameter counters: where a rebuilt rule's counter starts (a rule that was live
    ///   unchanged keeps its numbers); nil: from zero.
    /// - Parameter elementCounters: the same for a set's elements, by table and set name.
    public static func replacing(_ tables: Set<TableKind> = Set(TableKind.allCases), with ruleset: Ruleset,
                                 resolve: @escaping OwnerResolver,
                                 counters: (TableKind, ChainName, Int) -> Counter? = { _, _, _ in nil },
                                 elementCounters: (TableKind, String) -> [SetElement: Counter] = { _, _ in [:] }) throws -> NetlinkBatch {
        precondition(ruleset.layout == .inet, "netlink batches carry an inet ruleset")
        var operations: [Operation] = TableKind.allCases.filter(tables.contains).flatMap { [Operation.addTable($0), .deleteTable($0)] }
        var nextSetID: UInt32 = 1
        for table in ruleset.tables where tables.contains(table.kind) {
            operations.append(.addTable(table.kind))
            operations += table.chains.map { .addChain(table.kind, $0.name) }
            // nft creates a table's named sets after its chains and before their rules.
            var namedSets: [String: UInt32] = [:]
            for set in table.sets {
                let messages = NamedSetMessages(set: set, id: nextSetID, counters: elementCounters(table.kind, set.name))
                namedSets[set.name] = nextSetID
                nextSetID += 1
                operations.append(.addNamedSet(table.kind, messages))
                operations += messages.chunks.map { .addNamedSetElements(table.kind, messages, $0) }
            }
            for chain in table.chains {
                for (index, rule) in chain.rules.enumerated() {
                    var context = EncodingContext(nextSetID: nextSetID, namedSets: namedSets, resolve: resolve)
                    var expressions = try NftStatement.of(rule).flatMap { try $0.expressions(&context) }
                    if let start = counters(table.kind, chain.name, index) {
                        expressions = expressions.map { if case .counter = $0 { .counter(start) } else { $0 } }
                    }
                    nextSetID = context.nextSetID
                    for set in context.sets { operations += [.addSet(table.kind, set), .addElements(table.kind, set)] }
                    operations.append(.addRule(table.kind, chain.name, index: index + 1, rule, expressions))
                }
            }
        }
        return NetlinkBatch(operations: operations)
    }
}

extension NetlinkBatch.Operation {
    var messageType: UInt16 {
        let type: nf_tables_msg_types = switch self {
        case .addTable: NFT_MSG_NEWTABLE
        case .deleteTable, .deleteIptablesTable: NFT_MSG_DELTABLE
        case .addChain: NFT_MSG_NEWCHAIN
        case .addSet, .addNamedSet: NFT_MSG_NEWSET
        case .addElements, .addNamedSetElements: NFT_MSG_NEWSETELEM
        case .addRule: NFT_MSG_NEWRULE
        }
        return UInt16(type.rawValue)
    }

    /// Without NLM_F_APPEND the kernel would put each rule at the head of its chain.
    var messageFlags: UInt16 {
        switch self {
        case .deleteTable, .deleteIptablesTable: 0
        case .addRule: UInt16(NLM_F_CREATE | NLM_F_APPEND)
        default: UInt16(NLM_F_CREATE)
        }
    }

    /// The family in the message's header, which is the one the kernel goes by.
    var family: UInt32 {
        if case .deleteIptablesTable(let family, _) = self { return family.nfproto }
        return UInt32(NFPROTO_INET)
    }

    /// Writes this operation's message into `message` (its header is already built).
    func build(into message: UnsafeMutablePointer<nlmsghdr>) {
        let family = self.family
        switch self {
        case .addTable(let kind), .deleteTable(let kind):
            NftnlTable(family: family, name: NftNames.table(kind)).build(into: message)
        case .deleteIptablesTable(_, let name):
            NftnlTable(family: family, name: name).build(into: message)
        case .addChain(let kind, let name):
            let chain = NftnlChain(family: family, table: NftNames.table(kind), name: NftNames.chain(name))
            if case .builtin(let hook) = name {
                chain.attach(type: NftNames.chainType(kind, hook), hook: Self.hookNumber(hook), priority: Int32(kind.priority(at: hook)))
            }
            chain.build(into: message)
        case .addSet(let kind, let set):
            set.makeSet(table: NftNames.table(kind)).build(into: message)
        case .addElements(let kind, let set):
            set.makeSet(table: NftNames.table(kind)).buildElements(into: message)
        case .addNamedSet(let kind, let set):
            set.makeSet(table: NftNames.table(kind)).build(into: message)
        case .addNamedSetElements(let kind, let set, let chunk):
            set.makeElements(table: NftNames.table(kind), chunk: chunk).buildElements(into: message)
        case .addRule(let kind, let chain, _, _, let expressions):
            let rule = NftnlRule(family: family, table: NftNames.table(kind), chain: NftNames.chain(chain))
            for expression in expressions { expression.append(to: rule) }
            rule.build(into: message)
        }
    }

    /// A name as a sentence can carry it: one too long for the kernel is shown by its start and size.
    static func readable(_ name: String) -> String {
        name.utf8.count <= 64 ? name : "\(name.prefix(24))... (\(name.utf8.count) bytes)"
    }

    /// The hook a base chain's number names.
    public static func hook(number: UInt32) -> Hook? { Hook.allCases.first { hookNumber($0) == number } }

    static func hookNumber(_ hook: Hook) -> UInt32 {
        switch hook {
        case .prerouting: UInt32(NF_INET_PRE_ROUTING.rawValue)
        case .input: UInt32(NF_INET_LOCAL_IN.rawValue)
        case .forward: UInt32(NF_INET_FORWARD.rawValue)
        case .output: UInt32(NF_INET_LOCAL_OUT.rawValue)
        case .postrouting: UInt32(NF_INET_POST_ROUTING.rawValue)
        }
    }

    /// How an error message names this operation:
    /// "rule #3 in chain istio-output of table istio-proxy-nat (...)".
    public var description: String {
        switch self {
        case .addTable(let kind): "add table inet \(NftNames.table(kind))"
        case .deleteTable(let kind): "delete table inet \(NftNames.table(kind))"
        case .deleteIptablesTable(let family, let name): "delete table \(family.nftName) \(name)"
        case .addChain(let kind, let name): "add chain inet \(NftNames.table(kind)) \(Self.readable(NftNames.chain(name)))"
        case .addSet(let kind, let set): "add anonymous set #\(set.id) to table \(NftNames.table(kind))"
        case .addElements(let kind, let set): "add elements \(set.ports.map(String.init).joined(separator: ", ")) to anonymous set #\(set.id) in table \(NftNames.table(kind))"
        case .addNamedSet(let kind, let set): "add set \(set.set.name) to table \(NftNames.table(kind))"
        case .addNamedSetElements(let kind, let set, let chunk):
            "add elements \(chunk.lowerBound + 1)-\(chunk.upperBound) of \(set.count) to set \(set.set.name) in table \(NftNames.table(kind))"
        case .addRule(let kind, let chain, let index, let rule, _):
            "rule #\(index) in chain \(NftNames.chain(chain)) of table \(NftNames.table(kind)) (\(NftRenderer.statement(rule)))"
        }
    }
}
