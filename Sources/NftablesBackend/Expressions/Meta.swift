import CNftnl

/// `meta load KEY => reg` or `meta set KEY with reg`: packet metadata (mark, interfaces,
/// socket owner, families).
public struct Meta: ExpressionKind {
    static let name = "meta"
    public let key: UInt32
    public let transfer: Transfer

    public static let mark = NFT_META_MARK.rawValue
    public static let inInterfaceName = NFT_META_IIFNAME.rawValue
    public static let outInterfaceName = NFT_META_OIFNAME.rawValue
    public static let socketUser = NFT_META_SKUID.rawValue
    public static let socketGroup = NFT_META_SKGID.rawValue
    public static let networkProtocol = NFT_META_NFPROTO.rawValue
    public static let transportProtocol = NFT_META_L4PROTO.rawValue

    public init(_ key: UInt32, _ transfer: Transfer) {
        self.key = key
        self.transfer = transfer
    }

    func encode(_ expression: NftnlExpr) {
        expression.set(Int(NFTNL_EXPR_META_KEY), key)
        transfer.encode(expression, load: Int(NFTNL_EXPR_META_DREG), store: Int(NFTNL_EXPR_META_SREG))
    }

    init?(decoding expression: NftnlExpr) {
        guard let transfer = Transfer(decoding: expression, load: Int(NFTNL_EXPR_META_DREG), store: Int(NFTNL_EXPR_META_SREG))
        else { return nil }
        key = expression.u32(Int(NFTNL_EXPR_META_KEY))
        self.transfer = transfer
    }
}
