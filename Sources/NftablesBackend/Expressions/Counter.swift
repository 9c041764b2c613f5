import CNftnl

/// `counter`: packets and bytes that reached this point of the rule. Written empty for a new
/// rule; a rule a re-apply rebuilds unchanged is written with the numbers it had, which the
/// kernel takes as the counter's start. The kernel's numbers come back in a dump, which is what
/// `verify` reads.
public struct Counter: ExpressionKind {
    static let name = "counter"
    public let packets: UInt64
    public let bytes: UInt64

    public init(packets: UInt64 = 0, bytes: UInt64 = 0) {
        self.packets = packets
        self.bytes = bytes
    }

    func encode(_ expression: NftnlExpr) {
        // Only when there is something to carry: a new rule's bytecode stays what nft -f sends.
        guard packets != 0 || bytes != 0 else { return }
        expression.set(Int(NFTNL_EXPR_CTR_PACKETS), packets)
        expression.set(Int(NFTNL_EXPR_CTR_BYTES), bytes)
    }

    init?(decoding expression: NftnlExpr) {
        packets = expression.u64(Int(NFTNL_EXPR_CTR_PACKETS))
        bytes = expression.u64(Int(NFTNL_EXPR_CTR_BYTES))
    }
}
