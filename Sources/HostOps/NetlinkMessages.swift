import CMnl
import Glibc
import MeshCapture
import NftablesBackend

/// Walking netlink messages and attributes in received bytes. (libmnl's walking macros do not
/// import into Swift; these are the same steps on a byte array.)
struct NetlinkMessage {
    /// The errno of an NLMSG_ERROR (0 for an ACK); nil for other messages or a truncated one.
    var errorCode: Int32? {
        guard type == UInt16(NLMSG_ERROR), bytes.count >= Self.headerLength + 4 else { return nil }
        return -bytes.i32(at: bytes.startIndex + Self.headerLength)
    }

    let type: UInt16
    let flags: UInt16
    let sequence: UInt32
    /// The whole message, header included.
    let bytes: ArraySlice<UInt8>

    static let headerLength = 16

    static func split(_ data: ArraySlice<UInt8>) -> [NetlinkMessage] {
        var messages: [NetlinkMessage] = []
        var offset = data.startIndex
        while offset + headerLength <= data.endIndex {
            let length = Int(data.u32(at: offset))
            guard length >= headerLength, offset + length <= data.endIndex else { break }
            messages.append(NetlinkMessage(type: data.u16(at: offset + 4), flags: data.u16(at: offset + 6),
                                           sequence: data.u32(at: offset + 8), bytes: data[offset..<(offset + length)]))
            offset += (length + 3) & ~3
        }
        return messages
    }
}

struct NetlinkAttribute {
    let type: UInt16
    /// Where the attribute (its 4-byte header) starts, relative to the walked region's start.
    let start: Int
    let payload: ArraySlice<UInt8>

    static func walk(_ data: ArraySlice<UInt8>) -> [NetlinkAttribute] {
        var attributes: [NetlinkAttribute] = []
        // A slice keeps its base's indices: the header is the 4 bytes before the payload.
        forEach(data) { type, payload in attributes.append(NetlinkAttribute(type: type, start: payload.startIndex - 4, payload: payload)) }
        return attributes
    }

    /// Each attribute's type and payload in turn, without collecting them: reading a set of
    /// 10,000 prefixes visits some 100,000 attributes.
    static func forEach(_ data: ArraySlice<UInt8>, _ body: (UInt16, ArraySlice<UInt8>) -> Void) {
        var offset = data.startIndex
        while offset + 4 <= data.endIndex {
            let length = Int(data.u16(at: offset))
            guard length >= 4, offset + length <= data.endIndex else { return }
            // NLA_TYPE_MASK: drops NLA_F_NESTED and NLA_F_NET_BYTEORDER.
            body(data.u16(at: offset + 2) & 0x3fff, data[(offset + 4)..<(offset + length)])
            offset += (length + 3) & ~3
        }
    }
}

extension ArraySlice<UInt8> {
    func u16(at index: Int) -> UInt16 { UInt16(self[index]) | UInt16(self[index + 1]) << 8 }
    func u32(at index: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 | UInt32(self[index + $1]) << (8 * $1) } }
    func i32(at index: Int) -> Int32 { Int32(bitPattern: u32(at: index)) }
    /// The payload as one number in network byte order (nf_tables' flags and counters).
    var bigEndian: UInt64 { reduce(0) { $0 << 8 | UInt64($1) } }
}

/// A netlink request as bytes: header, the family's fixed header, attributes (each padded to 4).
/// Its sequence number is the socket's, given when it is sent (`exchange`).
struct NetlinkRequest {
    private(set) var bytes: [UInt8]

    init(type: UInt16, flags: Int32, header: [UInt8]) {
        bytes = [UInt8](repeating: 0, count: NetlinkMessage.headerLength)
        bytes.replace(at: 4, with: Encoding.host(type))
        bytes.replace(at: 6, with: Encoding.host(UInt16(flags)))
        append(header)
    }

    mutating func attribute(_ type: UInt16, _ payload: [UInt8]) {
        append(Encoding.host(UInt16(4 + payload.count)) + Encoding.host(type) + payload)
    }

    private mutating func append(_ data: [UInt8]) {
        bytes += data + [UInt8](repeating: 0, count: (4 - data.count % 4) % 4)
        bytes.replace(at: 0, with: Encoding.host(UInt32(bytes.count)))
    }

    /// Sends the request, with the socket's next sequence number, and reads every reply to it:
    /// the messages of a dump (until DONE), or nothing for a request whose ACK carries no error.
    /// An error reply throws with its errno.
    func exchange(on socket: NetlinkSocket, what: String) throws(HostError) -> [NetlinkMessage] {
        let sequence = socket.nextSequence()
        var bytes = self.bytes
        bytes.replace(at: 8, with: Encoding.host(sequence))
        let sent: HostError? = bytes.withUnsafeBytes { raw -> HostError? in
            guard let base = raw.baseAddress else { return nil }
            do throws(HostError) { try socket.sendRequest(base, length: raw.count) } catch { return error }
            return nil
        }
        if let sent { throw sent }
        var replies: [NetlinkMessage] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            guard let count = try socket.receive(into: &buffer, wait: true) else { continue }
            for message in NetlinkMessage.split(ArraySlice(buffer[0..<count])) where message.sequence == sequence {
                switch Int32(message.type) {
                case NLMSG_DONE:
                    return replies
                case NLMSG_ERROR:
                    let code = message.errorCode ?? EPROTO
                    if code != 0 { throw HostError(what, errno: code) }
                    return replies
                default:
                    replies.append(NetlinkMessage(type: message.type, flags: message.flags, sequence: message.sequence,
                                                  bytes: ArraySlice(Array(message.bytes))))
                }
            }
        }
    }
}

extension Array where Element == UInt8 {
    mutating func replace(at index: Int, with values: [UInt8]) {
        replaceSubrange(index..<(index + values.count), with: values)
    }
}
