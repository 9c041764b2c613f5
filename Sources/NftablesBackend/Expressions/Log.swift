import CNftnl

/// `log prefix "..."` (the kernel log, at nft's default level, which it leaves unsent) or
/// `log prefix "..." group N` (nfnetlink_log).
public struct Log: ExpressionKind {
    static let name = "log"
    public let prefix: String
    public let group: UInt16?

    public init(prefix: String, group: UInt16?) {
        self.prefix = prefix
        self.group = group
    }

    func encode(_ expression: NftnlExpr) {
        expression.set(Int(NFTNL_EXPR_LOG_PREFIX), prefix)
        if let group { expression.set(Int(NFTNL_EXPR_LOG_GROUP), group) }
    }

    /// The level the kernel logs at when none is given (warning), and dumps back.
    static let defaultLevel: UInt32 = 4

    /// nil for what meshcap never writes: no prefix, another level, flags, a snap length.
    init?(decoding expression: NftnlExpr) {
        guard let prefix = expression.string(Int(NFTNL_EXPR_LOG_PREFIX)),
              ![NFTNL_EXPR_LOG_FLAGS, NFTNL_EXPR_LOG_SNAPLEN, NFTNL_EXPR_LOG_QTHRESHOLD].contains(where: { expression.has(Int($0)) })
        else { return nil }
        self.prefix = prefix
        if expression.has(Int(NFTNL_EXPR_LOG_GROUP)) {
            guard !expression.has(Int(NFTNL_EXPR_LOG_LEVEL)) else { return nil }
            group = expression.u16(Int(NFTNL_EXPR_LOG_GROUP))
        } else {
            guard !expression.has(Int(NFTNL_EXPR_LOG_LEVEL)) || expression.u32(Int(NFTNL_EXPR_LOG_LEVEL)) == Self.defaultLevel else { return nil }
            group = nil
        }
    }
}
