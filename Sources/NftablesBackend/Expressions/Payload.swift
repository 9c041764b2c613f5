import CNftnl

/// `payload load LEN @ BASE header + OFFSET => reg`: bytes of the packet.
public struct Payload: ExpressionKind {
    static let name = "payload"
    public let base: UInt32
    public let offset: UInt32
    public let length: UInt32
    public let register: UInt32

    public static let networkHeader = NFT_PAYLOAD_NETWORK_HEADER.rawValue
    public static let transportHeader = NFT_PAYLOAD_TRANSPORT_HEADER.rawValue

    public init(_ base: UInt32, offset: UInt32, length: UInt32, into register: UInt32) {
        self.base = base
        self.offset = offset
        self.length = length
        self.register = register
    }

    func encode(_ expression: NftnlExpr) {
        expression.set(Int(NFTNL_EXPR_PAYLOAD_DREG), register)
        expression.set(Int(NFTNL_EXPR_PAYLOAD_BASE), base)
        expression.set(Int(NFTNL_EXPR_PAYLOAD_OFFSET), offset)
        expression.set(Int(NFTNL_EXPR_PAYLOAD_LEN), length)
    }

    init?(decoding expression: NftnlExpr) {
        guard expression.has(Int(NFTNL_EXPR_PAYLOAD_DREG)) else { return nil }
        register = expression.u32(Int(NFTNL_EXPR_PAYLOAD_DREG))
        base = expression.u32(Int(NFTNL_EXPR_PAYLOAD_BASE))
        offset = expression.u32(Int(NFTNL_EXPR_PAYLOAD_OFFSET))
        length = expression.u32(Int(NFTNL_EXPR_PAYLOAD_LEN))
    }
}
