import CXtables
import Glibc
import MeshCapture

/// An entry (or rule) a kernel reader cannot print exactly as the save tool does; the reason
/// names it. The caller reads that family with the save tool instead.
public struct UndecodableEntry: Error, Sendable {
    public let reason: String
}

/// What `iptables-save` prints for one match or target of an x_tables entry, decoded from the
/// structure the kernel keeps (the legacy tables' entries, and iptables-nft's compat `match` and
/// `target` expressions carry the same bytes). Each decoder prints exactly what the extension's
/// own save function prints, or returns nil: a field it does not print (a TCP flag test, a
/// conntrack direction, a LOG option) makes the whole entry undecodable, and the caller reads the
/// table with the save tool instead. Nothing is guessed.
///
/// The extensions are the ones meshcap, Istio of every version, and the software found beside
/// them on VMs (Docker's addrtype and MASQUERADE) write, at the revisions iptables 1.8 loads.
enum XtablesExtensions {
    /// `xt_tcp` and `xt_udp` as iptables-nft-save rebuilds them from native port comparisons.
    static func ports(_ name: String, source: (UInt16, UInt16), destination: (UInt16, UInt16), inverted: (source: Bool, destination: Bool)) -> String? {
        let flags = (inverted.source ? UInt8(XT_TCP_INV_SRCPT) : 0) | (inverted.destination ? UInt8(XT_TCP_INV_DSTPT) : 0)
        switch name {
        case "tcp": return tcp(xt_tcp(spts: source, dpts: destination, option: 0, flg_mask: 0, flg_cmp: 0, invflags: flags)).map { " -m tcp" + $0 }
        case "udp": return udp(xt_udp(spts: source, dpts: destination, invflags: flags)).map { " -m udp" + $0 }
        default: return nil
        }
    }

    /// iptables-nft-save's limit, rebuilt from a native `limit` of RATE per UNIT seconds.
    static func limit(rate: UInt64, unit: UInt64, burst: UInt32) -> String? {
        guard rate > 0, [1, 60, 3600, 86400].contains(unit), UInt64(XT_LIMIT_SCALE) * unit / rate <= UInt64(UInt32.max) else { return nil }
        var info = xt_rateinfo()
        info.avg = UInt32(UInt64(XT_LIMIT_SCALE) * unit / rate)
        info.burst = burst
        return limit(info).map { " -m limit" + $0 }
    }

    /// " -m tcp --dport 15008", the match's part of the line; nil when not printed exactly.
    static func match(_ name: String, revision: UInt8, _ data: UnsafeRawBufferPointer, family: Family) -> String? {
        let said: String?
        switch (name, revision) {
        case ("tcp", 0): said = load(xt_tcp.self, data).flatMap(tcp)
        case ("udp", 0): said = load(xt_udp.self, data).flatMap(udp)
        case ("multiport", 1): said = load(xt_multiport_v1.self, data).flatMap(multiport)
        case ("owner", 1): said = load(xt_owner_match_info.self, data).flatMap(owner)
        case ("mark", 1): said = load(xt_mark_mtinfo1.self, data).map { ($0.invert != 0 ? " !" : "") + mark($0.mark, $0.mask) }
        case ("connmark", 1): said = load(xt_connmark_mtinfo1.self, data).map { ($0.invert != 0 ? " !" : "") + mark($0.mark, $0.mask) }
        case ("conntrack", 3): said = load(xt_conntrack_mtinfo3.self, data).flatMap(conntrack)
        case ("limit", 0): said = load(xt_rateinfo.self, data).flatMap(limit)
        case ("comment", 0): said = load(xt_comment_info.self, data).map { " --comment" + saved(string($0.comment)) }
        case ("addrtype", 1): said = load(xt_addrtype_info_v1.self, data).flatMap(addrtype)
        default: said = nil
        }
        return said.map { " -m \(name)" + $0 }
    }

    /// " -j REDIRECT --to-ports 15001", the target's part of the line; nil when not printed exactly.
    static func target(_ name: String, revision: UInt8, _ data: UnsafeRawBufferPointer, family: Family) -> String? {
        let said: String?
        switch (name, revision, family) {
        case ("REDIRECT", 0, .ipv4), ("MASQUERADE", 0, .ipv4):
            said = load(nf_nat_ipv4_multi_range_compat.self, data).flatMap { range in
                range.rangesize == 1 ? nat(flags: range.range.flags, min: range.range.min.all, max: range.range.max.all) : nil
            }
        case ("REDIRECT", 0, .ipv6), ("MASQUERADE", 0, .ipv6):
            said = load(nf_nat_range.self, data).flatMap { nat(flags: $0.flags, min: $0.min_proto.all, max: $0.max_proto.all) }
        case ("TPROXY", 0, .ipv4):
            said = load(xt_tproxy_target_info.self, data).flatMap {
                tproxy(port: $0.lport, address: withUnsafeBytes(of: $0.laddr) { address(Array($0), .ipv4) }, mark: $0.mark_value, mask: $0.mark_mask)
            }
        case ("TPROXY", 1, _):
            said = load(xt_tproxy_target_info_v1.self, data).flatMap {
                tproxy(port: $0.lport, address: withUnsafeBytes(of: $0.laddr) { address(Array($0.prefix(family == .ipv4 ? 4 : 16)), family) },
                       mark: $0.mark_value, mask: $0.mark_mask)
            }
        case ("MARK", 2, _): said = load(xt_mark_tginfo2.self, data).map { " --set-xmark \(hex($0.mark))/\(hex($0.mask))" }
        case ("CONNMARK", 1, _): said = load(xt_connmark_tginfo1.self, data).flatMap { connmark(mode: $0.mode, $0.ctmark, $0.ctmask, $0.nfmask) }
        case ("CONNMARK", 2, _):
            said = load(xt_connmark_tginfo2.self, data).flatMap { $0.shift_bits == 0 ? connmark(mode: $0.mode, $0.ctmark, $0.ctmask, $0.nfmask) : nil }
        case ("CT", 2, _): said = load(xt_ct_target_info_v1.self, data).flatMap(ct)
        case ("LOG", 0, _): said = load(xt_log_info.self, data).flatMap(log)
        case ("NFLOG", 0, _): said = load(xt_nflog_info.self, data).flatMap(nflog)
        default: said = nil
        }
        return said.map { " -j \(name)" + $0 }
    }

    /// The structure at the start of `data`, if the kernel gave at least its size.
    static func load<T>(_ type: T.Type, _ data: UnsafeRawBufferPointer) -> T? {
        data.count >= MemoryLayout<T>.size ? data.loadUnaligned(as: T.self) : nil
    }

    // MARK: matches

    static func tcp(_ info: xt_tcp) -> String? {
        // --tcp-flags and --tcp-option are printed by no rule meshcap reads.
        guard info.option == 0, info.flg_mask == 0, info.invflags & ~UInt8(XT_TCP_INV_SRCPT | XT_TCP_INV_DSTPT) == 0 else { return nil }
        return ports(info.spts, inverted: info.invflags & UInt8(XT_TCP_INV_SRCPT) != 0, "--sport")
            + ports(info.dpts, inverted: info.invflags & UInt8(XT_TCP_INV_DSTPT) != 0, "--dport")
    }

    static func udp(_ info: xt_udp) -> String? {
        guard info.invflags & ~UInt8(XT_UDP_INV_SRCPT | XT_UDP_INV_DSTPT) == 0 else { return nil }
        return ports(info.spts, inverted: info.invflags & UInt8(XT_UDP_INV_SRCPT) != 0, "--sport")
            + ports(info.dpts, inverted: info.invflags & UInt8(XT_UDP_INV_DSTPT) != 0, "--dport")
    }

    /// A port range of tcp or udp: nothing for the whole range, else " --dport 80" or " --dport 80:90".
    static func ports(_ range: (UInt16, UInt16), inverted: Bool, _ option: String) -> String {
        guard range.0 != 0 || range.1 != 0xFFFF else { return "" }
        let value = range.0 == range.1 ? "\(range.0)" : "\(range.0):\(range.1)"
        return (inverted ? " !" : "") + " \(option) \(value)"
    }

    static let multiportOptions = [UInt8(XT_MULTIPORT_SOURCE.rawValue): "--sports", UInt8(XT_MULTIPORT_DESTINATION.rawValue): "--dports",
                                   UInt8(XT_MULTIPORT_EITHER.rawValue): "--ports"]

    static func multiport(_ info: xt_multiport_v1) -> String? {
        guard let option = multiportOptions[info.flags], info.count <= XT_MULTI_PORTS else { return nil }
        let ports = withUnsafeBytes(of: info.ports) { Array($0.bindMemory(to: UInt16.self)) }
        let ranged = withUnsafeBytes(of: info.pflags) { Array($0) }
        var list: [String] = [], index = 0
        while index < Int(info.count) {
            // A range takes two slots, its first flagged.
            if ranged[index] != 0 {
                guard index + 1 < Int(info.count) else { return nil }
                list.append("\(ports[index]):\(ports[index + 1])")
                index += 2
            } else {
                list.append("\(ports[index])")
                index += 1
            }
        }
        return (info.invert != 0 ? " !" : "") + " \(option) " + list.joined(separator: ",")
    }

    static func owner(_ info: xt_owner_match_info) -> String? {
        let uid = UInt8(XT_OWNER_UID), gid = UInt8(XT_OWNER_GID)
        // --socket-exists and --suppl-groups are left to the save tool.
        guard info.match & ~(uid | gid) == 0, info.invert & ~info.match == 0 else { return nil }
        var said = ""
        for (flag, option, low, high) in [(uid, "--uid-owner", info.uid_min, info.uid_max), (gid, "--gid-owner", info.gid_min, info.gid_max)]
        where info.match & flag != 0 {
            said += (info.invert & flag != 0 ? " !" : "") + " \(option) " + (low == high ? "\(low)" : "\(low)-\(high)")
        }
        return said
    }

    static func mark(_ value: UInt32, _ mask: UInt32) -> String {
        mask == .max ? " --mark \(hex(value))" : " --mark \(hex(value))/\(hex(mask))"
    }

    /// libxt_conntrack's print_state order.
    static let conntrackStates: [(UInt16, String)] = [
        (UInt16(XT_CONNTRACK_STATE_INVALID), "INVALID"), (1 << (UInt16(IP_CT_NEW.rawValue) + 1), "NEW"),
        (1 << (UInt16(IP_CT_RELATED.rawValue) + 1), "RELATED"), (1 << (UInt16(IP_CT_ESTABLISHED.rawValue) + 1), "ESTABLISHED"),
        (1 << (UInt16(IP_CT_NUMBER.rawValue) + 3), "UNTRACKED"), (1 << (UInt16(IP_CT_NUMBER.rawValue) + 1), "SNAT"),
        (1 << (UInt16(IP_CT_NUMBER.rawValue) + 2), "DNAT"),
    ]

    static func conntrack(_ info: xt_conntrack_mtinfo3) -> String? {
        // Only a state test (--ctstate), as meshcap and Istio write it.
        guard info.match_flags == UInt16(XT_CONNTRACK_STATE), info.invert_flags & ~info.match_flags == 0 else { return nil }
        let known = conntrackStates.reduce(0) { $0 | $1.0 }
        guard info.state_mask != 0, info.state_mask & ~known == 0 else { return nil }
        let states = conntrackStates.filter { info.state_mask & $0.0 != 0 }.map(\.1).joined(separator: ",")
        return (info.invert_flags != 0 ? " !" : "") + " --ctstate " + states
    }

    /// libxt_limit's print_rate: the largest unit that shows the rate without losing too much.
    static func limit(_ info: xt_rateinfo) -> String? {
        // An average of 0 is `--limit inf`, not a rate.
        guard info.avg > 0 else { return nil }
        let scale = UInt32(XT_LIMIT_SCALE)
        let units: [(mult: UInt32, name: String)] = [(scale * 24 * 60 * 60, "day"), (scale * 60 * 60, "hour"), (scale * 60, "min"), (scale, "sec")]
        let period = info.avg
        var chosen = 0
        for index in 1..<units.count {
            if period > units[index].mult || units[index].mult / period < units[index].mult % period { break }
            chosen = index
        }
        let burst = info.burst != 5 ? " --limit-burst \(info.burst)" : ""
        return " --limit \(units[chosen].mult / period)/\(units[chosen].name)" + burst
    }

    static let addressTypes = ["UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE"]

    static func addrtype(_ info: xt_addrtype_info_v1) -> String? {
        let names = addressTypes
        func types(_ mask: UInt16) -> String? {
            guard mask >> names.count == 0 else { return nil }
            return names.indices.filter { mask & (1 << $0) != 0 }.map { names[$0] }.joined(separator: ",")
        }
        let flags = UInt32(XT_ADDRTYPE_INVERT_SOURCE), destination = UInt32(XT_ADDRTYPE_INVERT_DEST)
        let limits = [(UInt32(XT_ADDRTYPE_LIMIT_IFACE_IN), " --limit-iface-in"), (UInt32(XT_ADDRTYPE_LIMIT_IFACE_OUT), " --limit-iface-out")]
        guard info.flags & ~(flags | destination | limits[0].0 | limits[1].0) == 0,
              let source = types(info.source), let target = types(info.dest) else { return nil }
        var said = ""
        if info.source != 0 { said += (info.flags & flags != 0 ? " !" : "") + " --src-type " + source }
        if info.dest != 0 { said += (info.flags & destination != 0 ? " !" : "") + " --dst-type " + target }
        for (flag, option) in limits where info.flags & flag != 0 { said += option }
        return said
    }

    // MARK: targets

    /// REDIRECT and MASQUERADE: their ports (network order in the structure) and --random.
    static func nat(flags: UInt32, min: UInt16, max: UInt16) -> String? {
        let specified = UInt32(NF_NAT_RANGE_PROTO_SPECIFIED), random = UInt32(NF_NAT_RANGE_PROTO_RANDOM)
        guard flags & ~(specified | random) == 0 else { return nil }
        var said = ""
        if flags & specified != 0 {
            said = " --to-ports \(UInt16(bigEndian: min))" + (min != max ? "-\(UInt16(bigEndian: max))" : "")
        }
        if flags & random != 0 { said += " --random" }
        return said
    }

    static func tproxy(port: UInt16, address: String?, mark: UInt32, mask: UInt32) -> String? {
        address.map { " --on-port \(UInt16(bigEndian: port)) --on-ip \($0) --tproxy-mark \(hex(mark))/\(hex(mask))" }
    }

    static func connmark(mode: UInt8, _ ctmark: UInt32, _ ctmask: UInt32, _ nfmask: UInt32) -> String? {
        switch mode {
        case UInt8(XT_CONNMARK_SET): " --set-xmark \(hex(ctmark))/\(hex(ctmask))"
        case UInt8(XT_CONNMARK_SAVE): " --save-mark --nfmask \(hex(nfmask)) --ctmask \(hex(ctmask))"
        case UInt8(XT_CONNMARK_RESTORE): " --restore-mark --nfmask \(hex(nfmask)) --ctmask \(hex(ctmask))"
        default: nil
        }
    }

    /// CT as meshcap and Istio write it: a zone and nothing else.
    static func ct(_ info: xt_ct_target_info_v1) -> String? {
        guard info.flags == 0, info.ct_events == 0, info.exp_events == 0,
              string(info.helper).isEmpty, string(info.timeout).isEmpty, info.zone != 0 else { return nil }
        return " --zone \(info.zone)"
    }

    static func log(_ info: xt_log_info) -> String? {
        guard info.logflags == 0 else { return nil }
        let prefix = string(info.prefix)
        return (prefix.isEmpty ? "" : " --log-prefix" + saved(prefix)) + (info.level != 4 ? " --log-level \(info.level)" : "")
    }

    /// NFLOG's options as the save tool prints them, from the legacy structure or iptables-nft's
    /// native `log` expression alike.
    static func nflog(prefix: String, group: UInt16) -> String {
        (prefix.isEmpty ? "" : " --nflog-prefix" + saved(prefix)) + (group != 0 ? " --nflog-group \(group)" : "")
    }

    static func nflog(_ info: xt_nflog_info) -> String? {
        guard info.flags == 0, info.len == 0, info.threshold == UInt16(XT_NFLOG_DEFAULT_THRESHOLD) else { return nil }
        let prefix = string(info.prefix)
        return nflog(prefix: prefix, group: info.group)
    }

    // MARK: printing

    static func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }

    /// A C string in a fixed array (a tuple to Swift), up to its NUL.
    static func string<T>(_ field: T) -> String {
        withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// xtables_save_string: " word" when it needs no quotes, else " \"...\"" with `"`, `\` and
    /// `'` escaped.
    static func saved(_ value: String) -> String {
        let plain = value.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        if plain && !value.isEmpty { return " " + value }
        var quoted = " \""
        for character in value {
            if character == "\"" || character == "\\" || character == "'" { quoted.append("\\") }
            quoted.append(character)
        }
        return quoted + "\""
    }

    /// An address as inet_ntop prints it (what iptables-save prints), nil for a wrong length.
    static func address(_ bytes: [UInt8], _ family: Family) -> String? {
        guard bytes.count == (family == .ipv4 ? 4 : 16) else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let done = bytes.withUnsafeBytes { inet_ntop(family == .ipv4 ? AF_INET : AF_INET6, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        guard done != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
