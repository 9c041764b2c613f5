import CNftnl

/// `redir proto_min reg N flags 0x2`: NAT to a local port held in a register.
public struct Redirect: ExpressionKind {
    static let name = "redir"
    public let portRegister: UInt32

    public init(portRegister: UInt32) { self.portRegister = portRegister }

    func encode(_ expression: NftnlExpr) {
        expression.set(Int(NFTNL_EXPR_REDIR_REG_PROTO_MIN), portRegister)
        expression.set(Int(NFTNL_EXPR_REDIR_FLAGS), UInt32(NF_NAT_RANGE_PROTO_SPECIFIED))
    }

    init?(decoding expression: NftnlExpr) {
        guard expression.has(Int(NFTNL_EXPR_REDIR_REG_PROTO_MIN)) else { return nil }
        portRegister = expression.u32(Int(NFTNL_EXPR_REDIR_REG_PROTO_MIN))
    }
}
