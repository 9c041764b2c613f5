import CNftnl

/// `tproxy ip|ip6 port reg N`: hand the packet to a local socket on that port, unchanged.
public struct TProxy: ExpressionKind {
    static let name = "tproxy"
    /// NFPROTO_IPV4 or NFPROTO_IPV6.
    public let family: UInt32
    public let portRegister: UInt32

    public init(family: UInt32, portRegister: UInt32) {
        self.family = family
        self.portRegister = portRegister
    }

    func encode(_ expression: NftnlExpr) {
        expression.set(Int(NFTNL_EXPR_TPROXY_FAMILY), family)
        expression.set(Int(NFTNL_EXPR_TPROXY_REG_PORT), portRegister)
    }

    init?(decoding expression: NftnlExpr) {
        family = expression.u32(Int(NFTNL_EXPR_TPROXY_FAMILY))
        portRegister = expression.u32(Int(NFTNL_EXPR_TPROXY_REG_PORT))
    }
}
