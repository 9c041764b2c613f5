import CXtables
import Glibc
import MeshCapture

/// The user-defined chains of a legacy x_tables table, read from the kernel the way
/// iptables-legacy-save reads it (IPT_SO_GET_INFO for its size, then IPT_SO_GET_ENTRIES for its
/// entries) but without starting it: every apply, diff, verify and clean looks for ISTIO chains
/// in the legacy tables (see `Residue`), and a host with any legacy table (Docker's, an old
/// kube-proxy's) paid a process for it each time: 2.8 ms of a default apply's 12.8 ms of CPU.
///
/// Only the names: a user-defined chain starts with an entry whose target is ERROR and whose
/// data is the chain's name (the table's last entry is an ERROR named ERROR). Reading rules
/// stays with iptables-save, whose text every reader of meshcap's already understands.
enum LegacyChains {
    /// The two families' getsockopt interfaces: the same calls on different structures.
    struct Interface {
        let domain: Int32
        let level: Int32
        let getInfo: Int32
        let getEntries: Int32
        /// sizeof(struct ipt_getinfo), and where its `size` is.
        let infoSize: Int
        let infoSizeField: Int
        /// sizeof(struct ipt_get_entries), and where its `size` is: the entries follow it.
        let entriesHeader: Int
        let entriesSizeField: Int
        /// Where an entry's target_offset and next_offset are.
        let targetOffsetField: Int
        let nextOffsetField: Int
    }

    static let ipv4 = Interface(
        domain: AF_INET, level: Int32(IPPROTO_IP), getInfo: IPT_SO_GET_INFO, getEntries: IPT_SO_GET_ENTRIES,
        infoSize: MemoryLayout<ipt_getinfo>.size, infoSizeField: MemoryLayout<ipt_getinfo>.offset(of: \.size)!,
        entriesHeader: MemoryLayout<ipt_get_entries>.size, entriesSizeField: MemoryLayout<ipt_get_entries>.offset(of: \.size)!,
        targetOffsetField: MemoryLayout<ipt_entry>.offset(of: \.target_offset)!, nextOffsetField: MemoryLayout<ipt_entry>.offset(of: \.next_offset)!)

    static let ipv6 = Interface(
        domain: AF_INET6, level: Int32(IPPROTO_IPV6), getInfo: IP6T_SO_GET_INFO, getEntries: IP6T_SO_GET_ENTRIES,
        infoSize: MemoryLayout<ip6t_getinfo>.size, infoSizeField: MemoryLayout<ip6t_getinfo>.offset(of: \.size)!,
        entriesHeader: MemoryLayout<ip6t_get_entries>.size, entriesSizeField: MemoryLayout<ip6t_get_entries>.offset(of: \.size)!,
        targetOffsetField: MemoryLayout<ip6t_entry>.offset(of: \.target_offset)!, nextOffsetField: MemoryLayout<ip6t_entry>.offset(of: \.next_offset)!)

    /// The user-defined chains of `table`, in the order the kernel keeps them. The caller checks
    /// that the table exists (`IptablesHost.legacyTables`): asking for one that does not loads
    /// its module, which creates it.
    static func names(_ table: String, family: Family) throws(HostError) -> [String] {
        let interface = family == .ipv4 ? ipv4 : ipv6
        let socket = Glibc.socket(interface.domain, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_RAW))
        guard socket >= 0 else {
            let code = errno
            throw HostError("cannot open a raw socket to read the legacy \(table) table", errno: code)
        }
        defer { close(socket) }
        // The table can change between the two calls: the kernel then refuses the second (its
        // size no longer matches), and both are asked again.
        for _ in 0..<3 {
            var info = [UInt8](repeating: 0, count: interface.infoSize)
            Self.putName(table, into: &info)
            if let code = get(socket, interface, interface.getInfo, &info) {
                throw HostError("the kernel would not describe the legacy \(table) table", errno: code)
            }
            let size = info.withUnsafeBytes { Int($0.load(fromByteOffset: interface.infoSizeField, as: UInt32.self)) }
            var entries = [UInt8](repeating: 0, count: interface.entriesHeader + size)
            Self.putName(table, into: &entries)
            entries.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(size), toByteOffset: interface.entriesSizeField, as: UInt32.self) }
            if let code = get(socket, interface, interface.getEntries, &entries) {
                if code == EAGAIN { continue }
                throw HostError("the kernel would not list the legacy \(table) table", errno: code)
            }
            return chainNames(entries[interface.entriesHeader...], interface)
        }
        throw HostError("the legacy \(table) table kept changing while it was read")
    }

    /// ERROR targets' names, but the table's closing one. The kernel checked these entries when
    /// they were loaded; the walk still stays inside the buffer, and stops where an entry's
    /// offsets would lead out of it.
    static func chainNames(_ entries: ArraySlice<UInt8>, _ interface: Interface) -> [String] {
        entries.withUnsafeBytes { bytes in
            var names: [String] = [], offset = 0
            while offset + interface.nextOffsetField + 2 <= bytes.count {
                let target = Int(bytes.loadUnaligned(fromByteOffset: offset + interface.targetOffsetField, as: UInt16.self))
                let next = Int(bytes.loadUnaligned(fromByteOffset: offset + interface.nextOffsetField, as: UInt16.self))
                // struct xt_entry_target: u16 size, char name[29], u8 revision; then the data.
                let targetName = offset + target + 2, data = offset + target + MemoryLayout<xt_entry_target>.size
                guard next > 0, data + Int(XT_FUNCTION_MAXNAMELEN) <= bytes.count else { break }
                if string(bytes, at: targetName, max: Int(XT_EXTENSION_MAXNAMELEN)) == XT_ERROR_TARGET {
                    let name = string(bytes, at: data, max: Int(XT_FUNCTION_MAXNAMELEN))
                    if name != XT_ERROR_TARGET { names.append(name) }
                }
                offset += next
            }
            return names
        }
    }

    private static func string(_ bytes: UnsafeRawBufferPointer, at offset: Int, max: Int) -> String {
        let field = bytes[offset..<(offset + max)]
        return String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// The table's name in the structure's first field (char name[XT_TABLE_MAXNAMELEN]).
    private static func putName(_ table: String, into buffer: inout [UInt8]) {
        for (index, byte) in table.utf8.prefix(Int(XT_TABLE_MAXNAMELEN) - 1).enumerated() { buffer[index] = byte }
    }

    /// getsockopt into `buffer`: nil, or the errno it failed with (taken at once).
    private static func get(_ socket: Int32, _ interface: Interface, _ option: Int32, _ buffer: inout [UInt8]) -> Int32? {
        var length = socklen_t(buffer.count)
        let status = buffer.withUnsafeMutableBytes { getsockopt(socket, interface.level, option, $0.baseAddress, &length) }
        return status == 0 ? nil : errno
    }
}
