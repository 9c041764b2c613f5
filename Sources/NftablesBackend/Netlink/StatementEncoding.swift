import CNftnl
import MeshCapture

/// What nft remembers while it turns one rule's statements into expressions: which protocol
/// dependencies are already established, and how to name new anonymous sets.
struct EncodingContext {
    var family: Family?
    var transport: L4Protocol?
    var sets: [AnonymousSet] = []
    var nextSetID: UInt32
    /// The ids of the table's named sets created earlier in the batch; a rule read back and
    /// encoded again has none (its lookup names the set).
    var namedSets: [String: UInt32] = [:]
    let resolve: OwnerResolver
}

extension NftStatement {
    /// The expressions `nft` 1.0.6 sends for this statement (checked against
    /// `nft --debug=netlink list ruleset` in the kernel tests).
    func expressions(_ context: inout EncodingContext) throws -> [NftExpression] {
        let r1 = Register.one
        switch self {
        case .match(let match):
            return try Self.expressions(match, &context)
        case .counter:
            return [.counter(Counter())]
        case .verdict(let target):
            let verdict: Immediate.Value = switch target {
            case .accept: .verdict(Immediate.accept, chain: nil)
            case .drop: .verdict(Immediate.drop, chain: nil)
            case .jump(let chain): .verdict(Immediate.jump, chain: NftNames.chain(chain))
            default: .verdict(Immediate.return, chain: nil)
            }
            return [.immediate(Immediate(Register.verdict, verdict))]
        case .redirect(let port):
            return [.immediate(Immediate(r1, .data(Encoding.bigEndian(port)))), .redirect(Redirect(portRegister: r1))]
        case .tproxy(let port, let family):
            let nfproto = family?.nfproto ?? UInt32(NFPROTO_UNSPEC)
            return [.immediate(Immediate(r1, .data(Encoding.bigEndian(port)))), .tproxy(TProxy(family: nfproto, portRegister: r1))]
        case .setMark(let mark):
            return [.immediate(Immediate(r1, .data(Encoding.host(mark)))), .meta(Meta(Meta.mark, .store(from: r1)))]
        case .markToConnection:
            return [.meta(Meta(Meta.mark, .load(into: r1))), .ct(Conntrack(Conntrack.mark, .store(from: r1)))]
        case .connectionToMark:
            return [.ct(Conntrack(Conntrack.mark, .load(into: r1))), .meta(Meta(Meta.mark, .store(from: r1)))]
        case .zone(let zone):
            return [.immediate(Immediate(r1, .data(Encoding.host(zone)))), .ct(Conntrack(Conntrack.zone, .store(from: r1)))]
        case .log(let prefix, let group):
            return [.log(Log(prefix: prefix, group: group))]
        }
    }

    private static func load(_ key: UInt32, equal: Bool = true, _ data: [UInt8]) -> [NftExpression] {
        [.meta(Meta(key, .load(into: Register.one))), .cmp(Cmp(Register.one, equal: equal, data))]
    }

    /// nft checks the family once per rule before the first address (`meta nfproto ipv4`).
    private static func familyDependency(_ family: Family, _ context: inout EncodingContext) -> [NftExpression] {
        guard context.family != family else { return [] }
        context.family = family
        return load(Meta.networkProtocol, [UInt8(family.nfproto)])
    }

    /// `tcp dport` needs `meta l4proto tcp` unless the rule already established it.
    private static func transportDependency(_ proto: L4Protocol, _ context: inout EncodingContext) -> [NftExpression] {
        guard context.transport != proto else { return [] }
        context.transport = proto
        return load(Meta.transportProtocol, [proto == .tcp ? UInt8(IPPROTO_TCP) : UInt8(IPPROTO_UDP)])
    }

    private static func expressions(_ match: Match, _ context: inout EncodingContext) throws -> [NftExpression] {
        let r1 = Register.one
        switch match {
        case .l4proto(let proto):
            context.transport = proto
            return load(Meta.transportProtocol, [proto == .tcp ? UInt8(IPPROTO_TCP) : UInt8(IPPROTO_UDP)])
        case .source(let prefix, let negated), .destination(let prefix, let negated):
            var isSource = false
            if case .source = match { isSource = true }
            let width = prefix.address.width / 8
            let offset: UInt32 = prefix.family == .ipv4 ? (isSource ? 12 : 16) : (isSource ? 8 : 24)
            var bytes = Encoding.bytes(prefix.address)
            var code = familyDependency(prefix.family, &context)
            if prefix.length % 8 == 0 && prefix.length > 0 {
                // nft loads only the whole bytes of the prefix and needs no mask (but a /0 is a
                // full-width load with an all-zero mask, not an empty load).
                bytes = Array(bytes.prefix(prefix.length / 8))
                code.append(.payload(Payload(Payload.networkHeader, offset: offset, length: UInt32(bytes.count), into: r1)))
            } else {
                let mask = (0..<width).map { index -> UInt8 in
                    let bits = min(max(prefix.length - index * 8, 0), 8)
                    return UInt8(truncatingIfNeeded: 0xff << (8 - bits))
                }
                code.append(.payload(Payload(Payload.networkHeader, offset: offset, length: UInt32(width), into: r1)))
                code.append(.bitwise(Bitwise(r1, mask: mask)))
            }
            return code + [.cmp(Cmp(r1, equal: !negated, bytes))]
        case .destinationSet(let set), .sourceSet(let set):
            var isSource = false
            if case .sourceSet = match { isSource = true }
            let offset: UInt32 = set.family == .ipv4 ? (isSource ? 12 : 16) : (isSource ? 8 : 24)
            return familyDependency(set.family, &context)
                + [.payload(Payload(Payload.networkHeader, offset: offset, length: set.family == .ipv4 ? 4 : 16, into: r1)),
                   .lookup(Lookup(r1, set: set.name, setID: context.namedSets[set.name], inverted: false))]
        case .inInterface(let name):
            return load(Meta.inInterfaceName, Encoding.interfaceName(name))
        case .outInterface(let name):
            return load(Meta.outInterfaceName, Encoding.interfaceName(name))
        case .destinationPort(let proto, let ports, let negated), .sourcePort(let proto, let ports, let negated):
            var isDestination = false
            if case .destinationPort = match { isDestination = true }
            var code = transportDependency(proto, &context)
            code.append(.payload(Payload(Payload.transportHeader, offset: isDestination ? 2 : 0, length: 2, into: r1)))
            if ports.count == 1 {
                return code + [.cmp(Cmp(r1, equal: !negated, Encoding.bigEndian(ports[0])))]
            }
            let set = AnonymousSet(id: context.nextSetID, ports: ports, proto: proto, isDestination: isDestination)
            context.nextSetID += 1
            context.sets.append(set)
            return code + [.lookup(Lookup(r1, set: "__set%d", setID: set.id, inverted: negated))]
        case .destinationPortSet(let proto, let set):
            return transportDependency(proto, &context)
                + [.payload(Payload(Payload.transportHeader, offset: 2, length: 2, into: r1)),
                   .lookup(Lookup(r1, set: set.name, setID: context.namedSets[set.name], inverted: false))]
        case .socketUser(let owner, let negated):
            return load(Meta.socketUser, equal: !negated, Encoding.host(try resolve(owner, group: false, context)))
        case .socketGroup(let owner, let negated):
            return load(Meta.socketGroup, equal: !negated, Encoding.host(try resolve(owner, group: true, context)))
        case .mark(let value, let negated):
            return load(Meta.mark, equal: !negated, Encoding.host(value))
        case .connmark(let value):
            return [.ct(Conntrack(Conntrack.mark, .load(into: r1))), .cmp(Cmp(r1, equal: true, Encoding.host(value)))]
        case .conntrackState(let states):
            let bits = states.reduce(UInt32(0)) { $0 | $1.bit }
            return [.ct(Conntrack(Conntrack.state, .load(into: r1))), .bitwise(Bitwise(r1, mask: Encoding.host(bits))),
                    .cmp(Cmp(r1, equal: false, Encoding.host(UInt32(0))))]
        case .rateLimit(let perSecond):
            return [.limit(Limit(perSecond: UInt64(perSecond)))]
        }
    }

    private static func resolve(_ owner: Owner, group: Bool, _ context: EncodingContext) throws -> UInt32 {
        guard let id = owner.id(isGroup: group, resolve: context.resolve) else { throw UnresolvedOwner(name: owner.description, isGroup: group) }
        return id
    }
}
