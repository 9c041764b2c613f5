import CNftnl

/// An expression of a rule iptables-nft wrote, as the kernel dumps it: the native expressions it
/// translates the rule header and some matches into (a load, then a comparison), and its
/// xtables-compat `match` and `target`, which carry the legacy x_tables structure unchanged.
/// `IptablesNftTables` in HostOps prints them as iptables-nft-save does.
public enum IptablesNftExpression: Sendable, Hashable {
    /// `meta load KEY => reg` (interface names, l4proto, mark).
    case meta(key: UInt32)
    /// `payload load LEN @ BASE + OFFSET => reg`.
    case payload(base: UInt32, offset: UInt32, length: UInt32)
    /// `bitwise reg = (reg & MASK) ^ XOR`.
    case bitwise(mask: [UInt8], xor: [UInt8])
    case cmp(equal: Bool, data: [UInt8])
    /// `range eq|neq reg FROM TO` (port ranges).
    case range(equal: Bool, from: [UInt8], to: [UInt8])
    case counter(packets: UInt64, bytes: UInt64)
    /// A verdict: accept, drop, return, or a jump or goto with its chain.
    case verdict(Int32, chain: String?)
    /// `limit rate RATE/UNIT burst BURST` of packets (UNIT in seconds).
    case limit(rate: UInt64, unit: UInt64, burst: UInt32)
    /// `log group N [prefix P] [queue-threshold T]`: iptables-nft's NFLOG.
    case nflog(group: UInt16, prefix: String?, threshold: UInt16?)
    case match(name: String, revision: UInt32, info: [UInt8])
    case target(name: String, revision: UInt32, info: [UInt8])
    /// Anything else (a lookup, ct, a store, a log without a group): iptables-nft-save prints
    /// such rules wrongly or not at all.
    case other(String)

    init(decoding expression: NftnlExpr) {
        func attribute(_ value: some BinaryInteger) -> Int { Int(value) }
        switch expression.name {
        case "meta" where expression.has(attribute(NFTNL_EXPR_META_DREG)) && expression.u32(attribute(NFTNL_EXPR_META_DREG)) == Register.one:
            self = .meta(key: expression.u32(attribute(NFTNL_EXPR_META_KEY)))
        case "payload" where expression.has(attribute(NFTNL_EXPR_PAYLOAD_DREG)) && expression.u32(attribute(NFTNL_EXPR_PAYLOAD_DREG)) == Register.one:
            self = .payload(base: expression.u32(attribute(NFTNL_EXPR_PAYLOAD_BASE)),
                            offset: expression.u32(attribute(NFTNL_EXPR_PAYLOAD_OFFSET)),
                            length: expression.u32(attribute(NFTNL_EXPR_PAYLOAD_LEN)))
        case "bitwise" where expression.u32(attribute(NFTNL_EXPR_BITWISE_SREG)) == Register.one
            && expression.u32(attribute(NFTNL_EXPR_BITWISE_DREG)) == Register.one
            && (!expression.has(attribute(NFTNL_EXPR_BITWISE_OP)) || expression.u32(attribute(NFTNL_EXPR_BITWISE_OP)) == 0 /* NFT_BITWISE_BOOL */):
            self = .bitwise(mask: expression.bytes(attribute(NFTNL_EXPR_BITWISE_MASK)), xor: expression.bytes(attribute(NFTNL_EXPR_BITWISE_XOR)))
        case "cmp" where expression.u32(attribute(NFTNL_EXPR_CMP_SREG)) == Register.one:
            let op = expression.u32(attribute(NFTNL_EXPR_CMP_OP))
            self = op == NFT_CMP_EQ.rawValue || op == NFT_CMP_NEQ.rawValue
                ? .cmp(equal: op == NFT_CMP_EQ.rawValue, data: expression.bytes(attribute(NFTNL_EXPR_CMP_DATA))) : .other("cmp")
        case "range" where expression.u32(attribute(NFTNL_EXPR_RANGE_SREG)) == Register.one:
            let op = expression.u32(attribute(NFTNL_EXPR_RANGE_OP))
            self = op == NFT_RANGE_EQ.rawValue || op == NFT_RANGE_NEQ.rawValue
                ? .range(equal: op == NFT_RANGE_EQ.rawValue, from: expression.bytes(attribute(NFTNL_EXPR_RANGE_FROM_DATA)),
                         to: expression.bytes(attribute(NFTNL_EXPR_RANGE_TO_DATA))) : .other("range")
        case "counter":
            self = .counter(packets: expression.u64(attribute(NFTNL_EXPR_CTR_PACKETS)), bytes: expression.u64(attribute(NFTNL_EXPR_CTR_BYTES)))
        case "immediate" where expression.u32(attribute(NFTNL_EXPR_IMM_DREG)) == Register.verdict && expression.has(attribute(NFTNL_EXPR_IMM_VERDICT)):
            self = .verdict(Int32(bitPattern: expression.u32(attribute(NFTNL_EXPR_IMM_VERDICT))), chain: expression.string(attribute(NFTNL_EXPR_IMM_CHAIN)))
        case "limit" where expression.u32(attribute(NFTNL_EXPR_LIMIT_TYPE)) == NFT_LIMIT_PKTS.rawValue && expression.u32(attribute(NFTNL_EXPR_LIMIT_FLAGS)) == 0:
            self = .limit(rate: expression.u64(attribute(NFTNL_EXPR_LIMIT_RATE)), unit: expression.u64(attribute(NFTNL_EXPR_LIMIT_UNIT)),
                          burst: expression.u32(attribute(NFTNL_EXPR_LIMIT_BURST)))
        case "log" where expression.has(attribute(NFTNL_EXPR_LOG_GROUP)) && !expression.has(attribute(NFTNL_EXPR_LOG_SNAPLEN))
            && !expression.has(attribute(NFTNL_EXPR_LOG_LEVEL)) && !expression.has(attribute(NFTNL_EXPR_LOG_FLAGS)):
            self = .nflog(group: expression.u16(attribute(NFTNL_EXPR_LOG_GROUP)), prefix: expression.string(attribute(NFTNL_EXPR_LOG_PREFIX)),
                          threshold: expression.has(attribute(NFTNL_EXPR_LOG_QTHRESHOLD)) ? expression.u16(attribute(NFTNL_EXPR_LOG_QTHRESHOLD)) : nil)
        case "match":
            self = .match(name: expression.string(attribute(NFTNL_EXPR_MT_NAME)) ?? "", revision: expression.u32(attribute(NFTNL_EXPR_MT_REV)),
                          info: expression.bytes(attribute(NFTNL_EXPR_MT_INFO)))
        case "target":
            self = .target(name: expression.string(attribute(NFTNL_EXPR_TG_NAME)) ?? "", revision: expression.u32(attribute(NFTNL_EXPR_TG_REV)),
                           info: expression.bytes(attribute(NFTNL_EXPR_TG_INFO)))
        case let name:
            self = .other(name)
        }
    }
}

extension NftnlRule {
    /// The rule's expressions as iptables-nft's reader sees them.
    public var iptablesNftExpressions: [IptablesNftExpression] {
        var expressions: [IptablesNftExpression] = []
        forEachExpression { expressions.append(IptablesNftExpression(decoding: $0)) }
        return expressions
    }

    /// Whether the rule carries user data (an nft comment): iptables-nft 1.8.9 writes none.
    public var hasUserData: Bool { nftnl_rule_is_set(pointer, UInt16(NFTNL_RULE_USERDATA.rawValue)) }
}
