import CMnl
import Glibc

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
        var offset = data.startIndex
        while offset + 4 <= data.endIndex {
            let length = Int(data.u16(at: offset))
            guard length >= 4, offset + length <= data.endIndex else { break }
            attributes.append(NetlinkAttribute(type: data.u16(at: offset + 2) & 0x3fff /* NLA_TYPE_MASK: drops NLA_F_NESTED and NLA_F_NET_BYTEORDER */,
                                               start: offset, payload: data[(offset + 4)..<(offset + length)]))
            offset += (length + 3) & ~3
        }
        return attributes
    }
}

extension ArraySlice<UInt8> {
    func u16(at index: Int) -> UInt16 { UInt16(self[index]) | UInt16(self[index + 1]) << 8 }
    func u32(at index: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 | UInt32(self[index + $1]) << (8 * $1) } }
    func i32(at index: Int) -> Int32 { Int32(bitPattern: u32(at: index)) }
}
