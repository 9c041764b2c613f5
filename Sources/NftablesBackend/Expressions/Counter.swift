import CNftnl

/// `counter`: packets and bytes that reached this point of the rule. Written empty; the
/// kernel's numbers come back in a dump, which is what `verify` reads.
public struct Counter: ExpressionKind {
    static let name = "counter"
    public let packets: UInt64
    public let bytes: UInt64

    public init(packets: UInt64 = 0, bytes: UInt64 = 0) {
        self.packets = packets
        self.bytes = bytes
    }

    func encode(_ expression: NftnlExpr) {}

    init?(decoding expression: NftnlExpr) {
        packets = expression.u64(Int(NFTNL_EXPR_CTR_PACKETS))
        bytes = expression.u64(Int(NFTNL_EXPR_CTR_BYTES))
    }
}
