import CNftnl
import MeshCapture

/// A constant set created together with the rule that looks it up (nft's `{ 53, 15008 }`).
public struct AnonymousSet: Hashable, Sendable {
    public let id: UInt32
    /// The ports, in the rule's order.
    public let ports: [Port]
    let proto: L4Protocol
    let isDestination: Bool

    /// nft's datatype number for `inet_service` (src/datatype.h, TYPE_INET_SERVICE).
    static let inetServiceType: UInt32 = 13

    /// The "typeof" record nft attaches (libnftnl udata TLVs): key byte order big-endian, and the
    /// payload field the keys came from, so `nft list` can print them as ports.
    var userdata: [UInt8] {
        func tlv(_ type: UInt8, _ value: [UInt8]) -> [UInt8] { [type, UInt8(value.count)] + value }
        // nft's proto_desc_id (TCP 8, UDP 4) and header field (sport 1, dport 2).
        let description: UInt32 = proto == .tcp ? 8 : 4
        let field: UInt32 = isDestination ? 2 : 1
        let payloadExpression: UInt32 = 7
        let typeof = tlv(0, Encoding.host(payloadExpression)) + tlv(1, tlv(0, Encoding.host(description)) + tlv(1, Encoding.host(field)))
        let bigEndian: UInt32 = 2
        return tlv(0, Encoding.host(bigEndian)) + tlv(3, typeof)
    }

    func makeSet(table: String) -> NftnlSet {
        let set = NftnlSet(family: UInt32(NFPROTO_INET), table: table, name: "__set%d", id: id)
        set.set(NFTNL_SET_FLAGS, NFT_SET_ANONYMOUS.rawValue | NFT_SET_CONSTANT.rawValue)
        set.set(NFTNL_SET_KEY_TYPE, Self.inetServiceType)
        set.set(NFTNL_SET_KEY_LEN, 2)
        set.set(NFTNL_SET_DESC_SIZE, UInt32(ports.count))
        set.set(NFTNL_SET_USERDATA, bytes: userdata)
        for port in ports { set.addElement(key: Encoding.bigEndian(port)) }
        return set
    }
}
