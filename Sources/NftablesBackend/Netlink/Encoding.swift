import MeshCapture

/// Byte layouts netlink and nf_tables expect: addresses, ports and set keys in network order;
/// netlink headers, attributes' integers, meta and ct values (marks, UIDs, zones, states) in
/// host order. Shared by the nf_tables encoder and HostOps' rtnetlink messages.
public enum Encoding {
    public static func bigEndian(_ port: Port) -> [UInt8] { [UInt8(port >> 8), UInt8(port & 0xff)] }
    public static func host<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

    public static func bytes(_ address: IPAddress) -> [UInt8] {
        switch address {
        case .v4(let value): (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }
        case .v6(let value): (0..<16).map { UInt8(truncatingIfNeeded: value >> (120 - 8 * $0)) }
        }
    }

    /// IFNAMSIZ bytes: the name, NUL-padded, as nft compares a full interface name.
    public static func interfaceName(_ name: String) -> [UInt8] {
        Array(name.utf8.prefix(15)) + [UInt8](repeating: 0, count: 16 - min(name.utf8.count, 15))
    }
}
