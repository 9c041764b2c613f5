import CNftnl

/// One nf_tables expression kind: its libnftnl name, how it is written into a libnftnl
/// expression and how it is read back from one. One file per kind, in Expressions/.
protocol ExpressionKind: Hashable, Sendable {
    static var name: String { get }
    func encode(_ expression: NftnlExpr)
    init?(decoding expression: NftnlExpr)
}

/// The registers nft uses: the verdict register and the first 16-byte data register.
public enum Register {
    public static let verdict = NFT_REG_VERDICT.rawValue
    public static let one = NFT_REG_1.rawValue
}

/// An nf_tables expression, as the kernel evaluates it.
public enum NftExpression: Hashable, Sendable {
    case meta(Meta)
    case cmp(Cmp)
    case payload(Payload)
    case bitwise(Bitwise)
    case lookup(Lookup)
    case immediate(Immediate)
    case counter(Counter)
    case redirect(Redirect)
    case tproxy(TProxy)
    case ct(Conntrack)
    case limit(Limit)
    case log(Log)

    var kind: any ExpressionKind {
        switch self {
        case .meta(let e): e
        case .cmp(let e): e
        case .payload(let e): e
        case .bitwise(let e): e
        case .lookup(let e): e
        case .immediate(let e): e
        case .counter(let e): e
        case .redirect(let e): e
        case .tproxy(let e): e
        case .ct(let e): e
        case .limit(let e): e
        case .log(let e): e
        }
    }

    /// The libnftnl name (`meta`, `cmp`, ...), also what error messages call an expression.
    public var name: String { type(of: kind).name }

    func append(to rule: NftnlRule) {
        rule.append(name) { kind.encode($0) }
    }

    /// nil for an expression kind meshcap never writes.
    init?(decoding expression: NftnlExpr) {
        switch expression.name {
        case Meta.name: guard let e = Meta(decoding: expression) else { return nil }; self = .meta(e)
        case Cmp.name: guard let e = Cmp(decoding: expression) else { return nil }; self = .cmp(e)
        case Payload.name: guard let e = Payload(decoding: expression) else { return nil }; self = .payload(e)
        case Bitwise.name: guard let e = Bitwise(decoding: expression) else { return nil }; self = .bitwise(e)
        case Lookup.name: guard let e = Lookup(decoding: expression) else { return nil }; self = .lookup(e)
        case Immediate.name: guard let e = Immediate(decoding: expression) else { return nil }; self = .immediate(e)
        case Counter.name: guard let e = Counter(decoding: expression) else { return nil }; self = .counter(e)
        case Redirect.name: guard let e = Redirect(decoding: expression) else { return nil }; self = .redirect(e)
        case TProxy.name: guard let e = TProxy(decoding: expression) else { return nil }; self = .tproxy(e)
        case Conntrack.name: guard let e = Conntrack(decoding: expression) else { return nil }; self = .ct(e)
        case Limit.name: guard let e = Limit(decoding: expression) else { return nil }; self = .limit(e)
        case Log.name: guard let e = Log(decoding: expression) else { return nil }; self = .log(e)
        default: return nil
        }
    }
}

/// Loads a value into a register, or sets a packet field from one (`meta` and `ct` do both).
public enum Transfer: Hashable, Sendable {
    case load(into: UInt32)
    case store(from: UInt32)

    func encode(_ expression: NftnlExpr, load: Int, store: Int) {
        switch self {
        case .load(let register): expression.set(load, register)
        case .store(let register): expression.set(store, register)
        }
    }

    init?(decoding expression: NftnlExpr, load: Int, store: Int) {
        if expression.has(load) {
            self = .load(into: expression.u32(load))
        } else if expression.has(store) {
            self = .store(from: expression.u32(store))
        } else {
            return nil
        }
    }
}
