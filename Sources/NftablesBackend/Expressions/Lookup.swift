import CNftnl

/// `lookup reg set NAME [inverted]`: membership in a set (nft's `{ 53, 15008 }`).
public struct Lookup: ExpressionKind {
    static let name = "lookup"
    public let register: UInt32
    /// "__set%d" while the set is new (the kernel numbers it), "__set0" when read back.
    public let set: String
    /// How a rule names a set created in the same batch; absent when read back.
    public let setID: UInt32?
    public let inverted: Bool

    public init(_ register: UInt32, set: String, setID: UInt32?, inverted: Bool) {
        self.register = register
        self.set = set
        self.setID = setID
        self.inverted = inverted
    }

    func encode(_ expression: NftnlExpr) {
        expression.set(Int(NFTNL_EXPR_LOOKUP_SREG), register)
        expression.set(Int(NFTNL_EXPR_LOOKUP_SET), set)
        if let setID { expression.set(Int(NFTNL_EXPR_LOOKUP_SET_ID), setID) }
        if inverted { expression.set(Int(NFTNL_EXPR_LOOKUP_FLAGS), NFT_LOOKUP_F_INV.rawValue) }
    }

    init?(decoding expression: NftnlExpr) {
        guard let set = expression.string(Int(NFTNL_EXPR_LOOKUP_SET)) else { return nil }
        register = expression.u32(Int(NFTNL_EXPR_LOOKUP_SREG))
        self.set = set
        setID = expression.has(Int(NFTNL_EXPR_LOOKUP_SET_ID)) ? expression.u32(Int(NFTNL_EXPR_LOOKUP_SET_ID)) : nil
        inverted = expression.has(Int(NFTNL_EXPR_LOOKUP_FLAGS))
            && expression.u32(Int(NFTNL_EXPR_LOOKUP_FLAGS)) & NFT_LOOKUP_F_INV.rawValue != 0
    }
}
