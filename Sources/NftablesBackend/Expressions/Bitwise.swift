import CNftnl

/// `bitwise reg = (reg & MASK) ^ XOR`: prefix masks and conntrack state bits.
public struct Bitwise: ExpressionKind {
    static let name = "bitwise"
    public let register: UInt32
    public let mask: [UInt8]
    public let xor: [UInt8]

    public init(_ register: UInt32, mask: [UInt8]) {
        self.register = register
        self.mask = mask
        self.xor = [UInt8](repeating: 0, count: mask.count)
    }

    func encode(_ expression: NftnlExpr) {
        expression.set(Int(NFTNL_EXPR_BITWISE_SREG), register)
        expression.set(Int(NFTNL_EXPR_BITWISE_DREG), register)
        expression.set(Int(NFTNL_EXPR_BITWISE_LEN), UInt32(mask.count))
        expression.set(Int(NFTNL_EXPR_BITWISE_MASK), bytes: mask)
        expression.set(Int(NFTNL_EXPR_BITWISE_XOR), bytes: xor)
    }

    init?(decoding expression: NftnlExpr) {
        register = expression.u32(Int(NFTNL_EXPR_BITWISE_SREG))
        mask = expression.bytes(Int(NFTNL_EXPR_BITWISE_MASK))
        xor = expression.bytes(Int(NFTNL_EXPR_BITWISE_XOR))
        guard expression.u32(Int(NFTNL_EXPR_BITWISE_DREG)) == register, xor.allSatisfy({ $0 == 0 }) else { return nil }
    }
}
