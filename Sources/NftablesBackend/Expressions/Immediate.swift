import CNftnl

/// `immediate reg DATA` or `immediate reg 0 VERDICT [-> chain]`.
public struct Immediate: ExpressionKind {
    static let name = "immediate"

    public enum Value: Hashable, Sendable {
        case data([UInt8])
        case verdict(Int32, chain: String?)
    }

    public let register: UInt32
    public let value: Value

    public static let accept = Int32(NF_ACCEPT)
    public static let drop = Int32(NF_DROP)
    public static let `return` = NFT_RETURN.rawValue
    public static let jump = NFT_JUMP.rawValue

    public init(_ register: UInt32, _ value: Value) {
        self.register = register
        self.value = value
    }

    func encode(_ expression: NftnlExpr) {
        expression.set(Int(NFTNL_EXPR_IMM_DREG), register)
        switch value {
        case .data(let bytes):
            expression.set(Int(NFTNL_EXPR_IMM_DATA), bytes: bytes)
        case .verdict(let code, let chain):
            expression.set(Int(NFTNL_EXPR_IMM_VERDICT), UInt32(bitPattern: code))
            if let chain { expression.set(Int(NFTNL_EXPR_IMM_CHAIN), chain) }
        }
    }

    init?(decoding expression: NftnlExpr) {
        register = expression.u32(Int(NFTNL_EXPR_IMM_DREG))
        if expression.has(Int(NFTNL_EXPR_IMM_VERDICT)) {
            value = .verdict(Int32(bitPattern: expression.u32(Int(NFTNL_EXPR_IMM_VERDICT))),
                             chain: expression.string(Int(NFTNL_EXPR_IMM_CHAIN)))
        } else if expression.has(Int(NFTNL_EXPR_IMM_DATA)) {
            value = .data(expression.bytes(Int(NFTNL_EXPR_IMM_DATA)))
        } else {
            return nil
        }
    }
}
