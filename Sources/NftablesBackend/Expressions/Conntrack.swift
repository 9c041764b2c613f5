import CNftnl
import MeshCapture

/// `ct load KEY => reg` or `ct set KEY with reg`: connection state, mark and zone.
public struct Conntrack: ExpressionKind {
    static let name = "ct"
    public let key: UInt32
    public let transfer: Transfer

    public static let state = NFT_CT_STATE.rawValue
    public static let mark = NFT_CT_MARK.rawValue
    public static let zone = NFT_CT_ZONE.rawValue

    public init(_ key: UInt32, _ transfer: Transfer) {
        self.key = key
        self.transfer = transfer
    }

    func encode(_ expression: NftnlExpr) {
        expression.set(Int(NFTNL_EXPR_CT_KEY), key)
        transfer.encode(expression, load: Int(NFTNL_EXPR_CT_DREG), store: Int(NFTNL_EXPR_CT_SREG))
    }

    init?(decoding expression: NftnlExpr) {
        guard let transfer = Transfer(decoding: expression, load: Int(NFTNL_EXPR_CT_DREG), store: Int(NFTNL_EXPR_CT_SREG))
        else { return nil }
        key = expression.u32(Int(NFTNL_EXPR_CT_KEY))
        self.transfer = transfer
    }
}

extension ConntrackState {
    /// NF_CT_STATE_BIT: what `ct load state` yields for this state. Invalid is bit 0; a conntrack
    /// info value i is bit i + 1.
    var bit: UInt32 {
        switch self {
        case .invalid: 1
        case .established: 1 << (IP_CT_ESTABLISHED.rawValue + 1)
        case .related: 1 << (IP_CT_RELATED.rawValue + 1)
        case .new: 1 << (IP_CT_NEW.rawValue + 1)
        }
    }
}
