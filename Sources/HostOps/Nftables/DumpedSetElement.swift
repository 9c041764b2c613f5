import CNftnl
import MeshCapture
import NftablesBackend

/// One element of a NEWSETELEM dump reply: its key, whether it ends an interval, its counter.
///
/// Read from the message's attributes in place. Through libnftnl each element became an element
/// object and an expression object, allocated and freed again: reading them that way was half of
/// verify's user time on a set of 10,000 prefixes (20,000 elements).
struct DumpedSetElement {
    /// nil for a key of a kind meshcap does not write (a concatenation, a MAC address).
    let key: NamedSetMessages.Key?
    /// An interval set's end of a range (the address after its last).
    let intervalEnd: Bool
    /// The element's counter, when the set gives its elements one.
    let counter: Counter?

    /// The elements of one message (header included), in the kernel's order. An element
    /// without a key (a catch-all) is not one meshcap writes, and is left out.
    static func forEach(in message: ArraySlice<UInt8>, _ body: (DumpedSetElement) -> Void) {
        // The netlink header, then nfgenmsg: family, version, resource id.
        let attributes = message.dropFirst(NetlinkMessage.headerLength + 4)
        NetlinkAttribute.forEach(attributes) { type, list in
            guard type == UInt16(NFTA_SET_ELEM_LIST_ELEMENTS.rawValue) else { return }
            NetlinkAttribute.forEach(list) { type, element in
                guard type == UInt16(NFTA_LIST_ELEM.rawValue) else { return }
                var key: NamedSetMessages.Key??, flags: UInt64 = 0, counter: Counter?
                NetlinkAttribute.forEach(element) { type, value in
                    switch UInt32(type) {
                    case NFTA_SET_ELEM_KEY.rawValue:
                        NetlinkAttribute.forEach(value) { type, data in
                            if type == UInt16(NFTA_DATA_VALUE.rawValue) { key = data.withUnsafeBytes { NamedSetMessages.Key($0) } }
                        }
                    case NFTA_SET_ELEM_FLAGS.rawValue:
                        flags = value.bigEndian
                    // One expression is sent on its own, several (a newer kernel's form) as a list.
                    case NFTA_SET_ELEM_EXPR.rawValue:
                        counter = counter ?? Self.counter(value)
                    case NFTA_SET_ELEM_EXPRESSIONS.rawValue:
                        NetlinkAttribute.forEach(value) { type, expression in
                            if type == UInt16(NFTA_LIST_ELEM.rawValue) { counter = counter ?? Self.counter(expression) }
                        }
                    default:
                        break
                    }
                }
                guard let key else { return }
                body(DumpedSetElement(key: key, intervalEnd: flags & UInt64(NFT_SET_ELEM_INTERVAL_END.rawValue) != 0, counter: counter))
            }
        }
    }

    /// A counter expression's numbers; nil for any other expression.
    static func counter(_ expression: ArraySlice<UInt8>) -> Counter? {
        var isCounter = false, packets: UInt64 = 0, bytes: UInt64 = 0
        NetlinkAttribute.forEach(expression) { type, value in
            switch UInt32(type) {
            // The name with its terminating NUL.
            case NFTA_EXPR_NAME.rawValue: isCounter = value.elementsEqual("counter\0".utf8)
            case NFTA_EXPR_DATA.rawValue:
                NetlinkAttribute.forEach(value) { type, number in
                    switch UInt32(type) {
                    case NFTA_COUNTER_PACKETS.rawValue: packets = number.bigEndian
                    case NFTA_COUNTER_BYTES.rawValue: bytes = number.bigEndian
                    default: break
                    }
                }
            default: break
            }
        }
        return isCounter ? Counter(packets: packets, bytes: bytes) : nil
    }
}
