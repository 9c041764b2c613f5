import CNftnl

/// `cmp eq|neq reg DATA`: compares a register with constant bytes.
public struct Cmp: ExpressionKind {
    static let name = "cmp"
    public let register: UInt32
    public let equal: Bool
    public let data: [UInt8]

    public init(_ register: UInt32, equal: Bool, _ data: [UInt8]) {
        self.register = register
        self.equal = equal
        self.data = data
    }

    func encode(_ expression: NftnlExpr) {
        expression.set(Int(NFTNL_EXPR_CMP_SREG), register)
        expression.set(Int(NFTNL_EXPR_CMP_OP), equal ? NFT_CMP_EQ.rawValue : NFT_CMP_NEQ.rawValue)
        expression.set(Int(NFTNL_EXPR_CMP_DATA), bytes: data)
    }

    init?(decoding expression: NftnlExpr) {
        let op = expression.u32(Int(NFTNL_EXPR_CMP_OP))
        guard op == NFT_CMP_EQ.rawValue || op == NFT_CMP_NEQ.rawValue else { return nil }
        register = expression.u32(Int(NFTNL_EXPR_CMP_SREG))
        equal = op == NFT_CMP_EQ.rawValue
        data = expression.bytes(Int(NFTNL_EXPR_CMP_DATA))
    }
}
