import CXtables
import Glibc
import IptablesBackend
import MeshCapture

/// The legacy x_tables tables read from the kernel the way iptables-legacy-save reads them
/// (IPT_SO_GET_INFO for the table's size and its chains' entry points, then IPT_SO_GET_ENTRIES
/// for its entries) but without starting it: the save tool cost every verify a process and the
/// parse of its text (`make bench`: 11 ms for the tool alone at 10,000 rules).
///
/// Each entry is decoded into the line iptables-legacy-save prints for it, counters included,
/// and that line into the model by the same reader a saved dump goes through, so both ways give
/// the same `IptablesSave`. An entry with anything the decoder does not print exactly (a match
/// or target it does not know, an option of one it knows) is not guessed: the table is reported
/// undecodable and the caller asks the save tool.
enum LegacyTables {
    /// The two families' getsockopt interfaces: the same calls on different structures.
    struct Interface {
        let family: Family
        let domain: Int32
        let level: Int32
        let getInfo: Int32
        let getEntries: Int32
        /// sizeof(struct ipt_getinfo), and where its fields are.
        let infoSize: Int
        let infoSizeField: Int
        let hookEntryField: Int
        let underflowField: Int
        let validHooksField: Int
        /// sizeof(struct ipt_get_entries), and where its `size` is: the entries follow it.
        let entriesHeader: Int
        let entriesSizeField: Int
        /// Where an entry's target_offset and next_offset are.
        let targetOffsetField: Int
        let nextOffsetField: Int
    }

    static let ipv4 = Interface(
        family: .ipv4, domain: AF_INET, level: Int32(IPPROTO_IP), getInfo: IPT_SO_GET_INFO, getEntries: IPT_SO_GET_ENTRIES,
        infoSize: MemoryLayout<ipt_getinfo>.size, infoSizeField: MemoryLayout<ipt_getinfo>.offset(of: \.size)!,
        hookEntryField: MemoryLayout<ipt_getinfo>.offset(of: \.hook_entry)!, underflowField: MemoryLayout<ipt_getinfo>.offset(of: \.underflow)!,
        validHooksField: MemoryLayout<ipt_getinfo>.offset(of: \.valid_hooks)!,
        entriesHeader: MemoryLayout<ipt_get_entries>.size, entriesSizeField: MemoryLayout<ipt_get_entries>.offset(of: \.size)!,
        targetOffsetField: MemoryLayout<ipt_entry>.offset(of: \.target_offset)!, nextOffsetField: MemoryLayout<ipt_entry>.offset(of: \.next_offset)!)

    static let ipv6 = Interface(
        family: .ipv6, domain: AF_INET6, level: Int32(IPPROTO_IPV6), getInfo: IP6T_SO_GET_INFO, getEntries: IP6T_SO_GET_ENTRIES,
        infoSize: MemoryLayout<ip6t_getinfo>.size, infoSizeField: MemoryLayout<ip6t_getinfo>.offset(of: \.size)!,
        hookEntryField: MemoryLayout<ip6t_getinfo>.offset(of: \.hook_entry)!, underflowField: MemoryLayout<ip6t_getinfo>.offset(of: \.underflow)!,
        validHooksField: MemoryLayout<ip6t_getinfo>.offset(of: \.valid_hooks)!,
        entriesHeader: MemoryLayout<ip6t_get_entries>.size, entriesSizeField: MemoryLayout<ip6t_get_entries>.offset(of: \.size)!,
        targetOffsetField: MemoryLayout<ip6t_entry>.offset(of: \.target_offset)!, nextOffsetField: MemoryLayout<ip6t_entry>.offset(of: \.next_offset)!)

    static func interface(_ family: Family) -> Interface { family == .ipv4 ? ipv4 : ipv6 }

    /// One table as the kernel gave it: where each built-in chain starts and ends (its policy
    /// entry), and the entries, which jumps address by their offset.
    struct Blob {
        let interface: Interface
        /// Per hook (PREROUTING ... POSTROUTING): the first entry and the policy entry, for the
        /// hooks the table has.
        let hooks: [(hook: Hook, entry: Int, underflow: Int)]
        let entries: [UInt8]
    }

    /// The user-defined chains of `table`, in the order the kernel keeps them. The caller checks
    /// that the table exists (`IptablesHost.legacyTables`): asking for one that does not loads
    /// its module, which creates it.
    static func names(_ table: String, family: Family) throws(HostError) -> [String] {
        let blob = try read(table, family: family)
        return walk(blob).compactMap(\.chainHead)
    }

    /// Reads a table's entries; the table can change between the two calls: the kernel then
    /// refuses the second (its size no longer matches), and both are asked again.
    static func read(_ table: String, family: Family) throws(HostError) -> Blob {
        let interface = interface(family)
        let socket = Glibc.socket(interface.domain, Int32(SOCK_RAW.rawValue), Int32(IPPROTO_RAW))
        guard socket >= 0 else {
            let code = errno
            throw HostError("cannot open a raw socket to read the legacy \(table) table", errno: code)
        }
        defer { close(socket) }
        for _ in 0..<3 {
            var info = [UInt8](repeating: 0, count: interface.infoSize)
            Self.putName(table, into: &info)
            if let code = get(socket, interface, interface.getInfo, &info) {
                throw HostError("the kernel would not describe the legacy \(table) table", errno: code)
            }
            let (size, hooks) = info.withUnsafeBytes { bytes in
                let valid = bytes.load(fromByteOffset: interface.validHooksField, as: UInt32.self)
                let hooks = Hook.allCases.enumerated().compactMap { index, hook -> (Hook, Int, Int)? in
                    guard valid & (1 << index) != 0 else { return nil }
                    return (hook, Int(bytes.load(fromByteOffset: interface.hookEntryField + 4 * index, as: UInt32.self)),
                            Int(bytes.load(fromByteOffset: interface.underflowField + 4 * index, as: UInt32.self)))
                }
                return (Int(bytes.load(fromByteOffset: interface.infoSizeField, as: UInt32.self)), hooks)
            }
            var entries = [UInt8](repeating: 0, count: interface.entriesHeader + size)
            Self.putName(table, into: &entries)
            entries.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(size), toByteOffset: interface.entriesSizeField, as: UInt32.self) }
            if let code = get(socket, interface, interface.getEntries, &entries) {
                if code == EAGAIN { continue }
                throw HostError("the kernel would not list the legacy \(table) table", errno: code)
            }
            return Blob(interface: interface, hooks: hooks, entries: Array(entries[interface.entriesHeader...]))
        }
        throw HostError("the legacy \(table) table kept changing while it was read")
    }

    /// Where an entry is, and what its target is, for finding chains and jumps.
    struct Place {
        let offset: Int
        let next: Int
        let target: Int
        /// A user-defined chain's name, when the entry is its head (an ERROR target naming it).
        let chainHead: String?
        /// The table's closing entry (ERROR named ERROR).
        let isEnd: Bool
    }

    /// Every entry's place, in order. The kernel checked the entries when they were loaded; the
    /// walk still stays inside the buffer: it stops at an entry too short for its fixed part and
    /// a target, or whose offsets would lead out of it (`table` then finds no closing entry).
    static func walk(_ blob: Blob) -> [Place] {
        let interface = blob.interface
        let fixed = interface.family == .ipv4 ? MemoryLayout<ipt_entry>.size : MemoryLayout<ip6t_entry>.size
        return blob.entries.withUnsafeBytes { bytes in
            var places: [Place] = [], offset = 0
            while offset + interface.nextOffsetField + 2 <= bytes.count {
                let target = Int(bytes.loadUnaligned(fromByteOffset: offset + interface.targetOffsetField, as: UInt16.self))
                let next = Int(bytes.loadUnaligned(fromByteOffset: offset + interface.nextOffsetField, as: UInt16.self))
                // struct xt_entry_target: u16 size, char name[29], u8 revision; then the data.
                let targetName = offset + target + 2, data = offset + target + MemoryLayout<xt_entry_target>.size
                guard target >= fixed, next >= target + MemoryLayout<xt_entry_target>.size, offset + next <= bytes.count else { break }
                var head: String?, end = false
                if data + Int(XT_FUNCTION_MAXNAMELEN) <= offset + next,
                   string(bytes, at: targetName, max: Int(XT_EXTENSION_MAXNAMELEN)) == XT_ERROR_TARGET {
                    let name = string(bytes, at: data, max: Int(XT_FUNCTION_MAXNAMELEN))
                    if name == XT_ERROR_TARGET { end = true } else { head = name }
                }
                places.append(Place(offset: offset, next: next, target: target, chainHead: head, isEnd: end))
                offset += next
            }
            return places
        }
    }

    /// The table's chains and rules as iptables-legacy-save prints them: built-in chains in hook
    /// order with their policies, then user-defined chains by name, as libiptc sorts them.
    static func table(_ name: String, _ blob: Blob) throws(UndecodableEntry) -> IptablesSave.Table {
        let places = walk(blob)
        // Each chain is a run of entries: a built-in one from its hook entry to its policy
        // entry, a user-defined one from its head to its closing RETURN (not printed).
        var runs: [(name: String, policy: String?, first: Int, last: Int)] = []
        var index: [Int: Int] = [:]
        for (position, place) in places.enumerated() { index[place.offset] = position }
        var starts: [(offset: Int, name: String, builtin: Bool)] = blob.hooks.map { ($0.entry, $0.hook.rawValue.uppercased(), true) }
        starts += places.compactMap { place in place.chainHead.map { (place.offset, $0, false) } }
        starts.sort { $0.offset < $1.offset }
        guard let end = places.last(where: \.isEnd)?.offset else { throw UndecodableEntry(reason: "\(name): the table has no closing entry") }
        for (number, start) in starts.enumerated() {
            let bound = number + 1 < starts.count ? starts[number + 1].offset : end
            guard let first = index[start.offset], let stop = index[bound] else { throw UndecodableEntry(reason: "\(name) \(start.name): a chain that starts or ends between entries") }
            if start.builtin {
                // libiptc takes a built-in chain's last entry for its policy: the underflow must be it.
                guard let hook = blob.hooks.first(where: { $0.entry == start.offset }), let last = index[hook.underflow], last == stop - 1, last >= first else {
                    throw UndecodableEntry(reason: "\(name) \(start.name): its policy entry is not its last")
                }
                runs.append((start.name, "", first, last))
            } else {
                // A head, its rules, and its closing RETURN.
                guard stop - 1 >= first + 1 else { throw UndecodableEntry(reason: "\(name) \(start.name): a chain without its closing entry") }
                runs.append((start.name, nil, first + 1, stop - 1))
            }
        }
        // Jumps address the chain they enter by any offset inside it (libiptc's own reading).
        let spans = runs.filter { $0.policy == nil }.map { run in (run.name, places[run.first - 1].offset, places[run.last].offset) }
        func chain(at offset: Int) -> String? { spans.first { $0.1 <= offset && offset <= $0.2 }?.0 }

        let decoded = blob.entries.withUnsafeBytes { bytes in Result { () throws(UndecodableEntry) in
            var chains: [IptablesSave.Chain] = []
            for run in runs {
                var rules: [IptablesSave.SavedRule] = []
                for position in run.first..<run.last {
                    let line: (text: String, packets: UInt64, bytes: UInt64)
                    do throws(UndecodableEntry) { line = try entry(bytes, places[position], chain: run.name, family: blob.interface.family, jump: chain(at:)) } catch {
                        throw UndecodableEntry(reason: "\(name) \(error.reason)")
                    }
                    guard let rule = IptablesSave.savedRule(Substring(line.text), packets: line.packets, bytes: line.bytes, family: blob.interface.family) else {
                        throw UndecodableEntry(reason: "\(name) \(run.name): `\(line.text)` does not read back")
                    }
                    rules.append(rule.rule)
                }
                var policy: String?
                if run.policy != nil {
                    guard let verdict = standardVerdict(bytes, places[run.last]), let said = verdictName(verdict), said == "ACCEPT" || said == "DROP" else {
                        throw UndecodableEntry(reason: "\(name) \(run.name): a policy other than ACCEPT or DROP")
                    }
                    policy = said
                }
                chains.append(IptablesSave.Chain(name: run.name, policy: policy, rules: rules))
            }
            let builtins = chains.filter { $0.policy != nil }
            let regular = chains.filter { $0.policy == nil }.sorted { Array($0.name.utf8).lexicographicallyPrecedes($1.name.utf8) }
            return IptablesSave.Table(name: name, chains: builtins + regular)
        } }
        return try decoded.get()
    }

    /// The verdict of a standard target (empty name, a verdict after the header), else nil.
    static func standardVerdict(_ bytes: UnsafeRawBufferPointer, _ place: Place) -> Int32? {
        let header = place.offset + place.target
        let size = Int(bytes.loadUnaligned(fromByteOffset: header, as: UInt16.self))
        guard size == MemoryLayout<xt_standard_target>.size, header + size <= place.offset + place.next, bytes[header + 2] == 0 else { return nil }
        return bytes.loadUnaligned(fromByteOffset: header + MemoryLayout<xt_entry_target>.size, as: Int32.self)
    }

    /// ACCEPT, DROP, QUEUE, RETURN: a standard target's verdict below zero.
    static func verdictName(_ verdict: Int32) -> String? {
        switch verdict {
        case -Int32(NF_ACCEPT) - 1: "ACCEPT"
        case -Int32(NF_DROP) - 1: "DROP"
        case -Int32(NF_QUEUE) - 1: "QUEUE"
        case -Int32(NF_REPEAT) - 1: "RETURN"  // XT_RETURN
        default: nil
        }
    }

    /// One entry as iptables-legacy-save prints it (`-A CHAIN -s ... -j TARGET ...`).
    static func entry(_ bytes: UnsafeRawBufferPointer, _ place: Place, chain: String, family: Family,
                      jump: (Int) -> String?) throws(UndecodableEntry) -> (text: String, packets: UInt64, bytes: UInt64) {
        func fail(_ why: String) -> UndecodableEntry { UndecodableEntry(reason: "\(chain): an entry with \(why)") }
        let header: EntryHeader = family == .ipv4
            ? EntryHeader(bytes.loadUnaligned(fromByteOffset: place.offset, as: ipt_entry.self))
            : EntryHeader(bytes.loadUnaligned(fromByteOffset: place.offset, as: ip6t_entry.self))
        guard let head = header.text(family: family) else { throw fail("header fields iptables-save prints otherwise") }
        var text = "-A \(chain)" + head
        // The matches sit between the entry's fixed part and its target.
        var offset = place.offset + header.size
        while offset < place.offset + place.target {
            let size = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            guard size >= MemoryLayout<xt_entry_match>.size, offset + size <= place.offset + place.target else { throw fail("a malformed match") }
            let name = string(bytes, at: offset + 2, max: Int(XT_EXTENSION_MAXNAMELEN))
            let revision = bytes[offset + 2 + Int(XT_EXTENSION_MAXNAMELEN)]
            let data = UnsafeRawBufferPointer(rebasing: bytes[(offset + MemoryLayout<xt_entry_match>.size)..<(offset + size)])
            guard let said = XtablesExtensions.match(name, revision: revision, data, family: family) else { throw fail("match \(name) (revision \(revision))") }
            text += said
            offset += size
        }
        let target = place.offset + place.target
        let name = string(bytes, at: target + 2, max: Int(XT_EXTENSION_MAXNAMELEN))
        if name.isEmpty {
            guard let verdict = standardVerdict(bytes, place) else { throw fail("a malformed standard target") }
            if verdict < 0 {
                guard let said = verdictName(verdict), !header.goto else { throw fail("verdict \(verdict)") }
                text += " -j \(said)"
            } else if Int(verdict) != place.offset + place.next {
                // A jump (-g with the goto flag); one to the next entry is no target at all.
                guard let chain = jump(Int(verdict)) else { throw fail("a jump into no user-defined chain") }
                text += " -\(header.goto ? "g" : "j") \(chain)"
            }
        } else {
            let size = Int(bytes.loadUnaligned(fromByteOffset: target, as: UInt16.self))
            guard size >= MemoryLayout<xt_entry_target>.size, target + size <= place.offset + place.next else { throw fail("a malformed target") }
            let revision = bytes[target + 2 + Int(XT_EXTENSION_MAXNAMELEN)]
            let data = UnsafeRawBufferPointer(rebasing: bytes[(target + MemoryLayout<xt_entry_target>.size)..<(target + size)])
            guard let said = XtablesExtensions.target(name, revision: revision, data, family: family) else { throw fail("target \(name) (revision \(revision))") }
            text += said
        }
        return (text, header.packets, header.bytes)
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
