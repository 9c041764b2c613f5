import CNftnl

/// `limit rate N/second`: a token bucket, a packet over the rate ends the rule (as a failed
/// match does). nft sends all five attributes; burst 5 is its default.
public struct Limit: ExpressionKind {
    static let name = "limit"
    public let perSecond: UInt64
    public let burst: UInt32

    public init(perSecond: UInt64, burst: UInt32 = 5) {
        self.perSecond = perSecond
        self.burst = burst
    }

    func encode(_ expression: NftnlExpr) {
        expression.set(Int(NFTNL_EXPR_LIMIT_RATE), perSecond)
        expression.set(Int(NFTNL_EXPR_LIMIT_UNIT), UInt64(1))
        expression.set(Int(NFTNL_EXPR_LIMIT_BURST), burst)
        expression.set(Int(NFTNL_EXPR_LIMIT_TYPE), UInt32(NFT_LIMIT_PKTS.rawValue))
        expression.set(Int(NFTNL_EXPR_LIMIT_FLAGS), UInt32(0))
    }

    /// nil for what meshcap never writes: bytes, another unit, an inverted limit.
    init?(decoding expression: NftnlExpr) {
        guard expression.u64(Int(NFTNL_EXPR_LIMIT_UNIT)) == 1, expression.u32(Int(NFTNL_EXPR_LIMIT_TYPE)) == NFT_LIMIT_PKTS.rawValue,
              expression.u32(Int(NFTNL_EXPR_LIMIT_FLAGS)) == 0 else { return nil }
        perSecond = expression.u64(Int(NFTNL_EXPR_LIMIT_RATE))
        burst = expression.u32(Int(NFTNL_EXPR_LIMIT_BURST))
    }
}
