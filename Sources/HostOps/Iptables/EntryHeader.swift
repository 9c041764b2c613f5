import CXtables
import Glibc
import MeshCapture

/// The fixed part of a legacy x_tables entry (`struct ipt_entry`, `struct ip6t_entry`): addresses,
/// interfaces, protocol and counters, printed as iptables-save prints them.
struct EntryHeader {
    /// The address and mask bytes, in network order.
    let source: (address: [UInt8], mask: [UInt8])
    let destination: (address: [UInt8], mask: [UInt8])
    let input: (name: [UInt8], mask: [UInt8])
    let output: (name: [UInt8], mask: [UInt8])
    let proto: UInt16
    let invertedSource, invertedDestination, invertedInput, invertedOutput, invertedProto: Bool
    /// IPv4's -f, and whether it is negated.
    let fragment: (set: Bool, inverted: Bool)
    /// Whether the entry's jump is a goto (-g).
    let goto: Bool
    /// Flags the save tool would print something for that this reader does not (IPv6's TOS).
    let unknown: Bool
    let packets: UInt64
    let bytes: UInt64
    /// sizeof the structure: where the first match starts.
    let size: Int

    init(_ entry: ipt_entry) {
        let ip = entry.ip, flags = Int32(ip.flags)
        self.init(source: (rawBytes(ip.src), rawBytes(ip.smsk)), destination: (rawBytes(ip.dst), rawBytes(ip.dmsk)),
                  input: (rawBytes(ip.iniface), rawBytes(ip.iniface_mask)), output: (rawBytes(ip.outiface), rawBytes(ip.outiface_mask)),
                  proto: ip.proto, inverted: Int32(ip.invflags), fragment: flags & IPT_F_FRAG != 0, goto: flags & IPT_F_GOTO != 0,
                  unknown: flags & ~IPT_F_MASK != 0, counters: entry.counters, size: MemoryLayout<ipt_entry>.size)
    }

    init(_ entry: ip6t_entry) {
        let ip = entry.ipv6, flags = Int32(ip.flags)
        self.init(source: (rawBytes(ip.src), rawBytes(ip.smsk)), destination: (rawBytes(ip.dst), rawBytes(ip.dmsk)),
                  input: (rawBytes(ip.iniface), rawBytes(ip.iniface_mask)), output: (rawBytes(ip.outiface), rawBytes(ip.outiface_mask)),
                  proto: ip.proto, inverted: Int32(ip.invflags), fragment: false, goto: flags & IP6T_F_GOTO != 0,
                  unknown: flags & IP6T_F_TOS != 0 || flags & ~IP6T_F_MASK != 0, counters: entry.counters, size: MemoryLayout<ip6t_entry>.size)
    }

    /// The inversion bits have the same values in both families (IPT_INV_SRCIP is IP6T_INV_SRCIP ...).
    private init(source: (address: [UInt8], mask: [UInt8]), destination: (address: [UInt8], mask: [UInt8]),
                 input: (name: [UInt8], mask: [UInt8]), output: (name: [UInt8], mask: [UInt8]), proto: UInt16, inverted: Int32,
                 fragment: Bool, goto: Bool, unknown: Bool, counters: xt_counters, size: Int) {
        self.source = source
        self.destination = destination
        self.input = input
        self.output = output
        self.proto = proto
        invertedSource = inverted & IPT_INV_SRCIP != 0
        invertedDestination = inverted & IPT_INV_DSTIP != 0
        invertedInput = inverted & IPT_INV_VIA_IN != 0
        invertedOutput = inverted & IPT_INV_VIA_OUT != 0
        invertedProto = inverted & XT_INV_PROTO != 0
        self.fragment = (fragment, inverted & IPT_INV_FRAG != 0)
        self.goto = goto
        self.unknown = unknown
        packets = counters.pcnt
        bytes = counters.bcnt
        self.size = size
    }

    /// " ! -d 127.0.0.1/32 -o lo -p tcp": what the save tool prints before the matches; nil
    /// when it would print something this reader does not.
    func text(family: Family) -> String? {
        guard !unknown,
              let source = address("-s", source, invertedSource, family),
              let destination = address("-d", destination, invertedDestination, family) else { return nil }
        var text = source + destination + interface("i", input, invertedInput) + interface("o", output, invertedOutput)
        if proto != 0 {
            guard let name = Self.protocolName(proto) else { return nil }
            text += (invertedProto ? " !" : "") + " -p " + name
        }
        if fragment.set { text += (fragment.inverted ? " !" : "") + " -f" }
        return text
    }

    /// print_ip of iptables and ip6tables: nothing for any address, else the address and its
    /// prefix length (or, for a mask that is no prefix, the mask).
    func address(_ option: String, _ field: (address: [UInt8], mask: [UInt8]), _ inverted: Bool, _ family: Family) -> String? {
        let unset = family == .ipv4 ? field.mask.allSatisfy { $0 == 0 } && field.address.allSatisfy { $0 == 0 } : Self.prefixLength(field.mask) == 0
        if unset && !inverted { return "" }
        return Self.address(option, field.address, mask: field.mask, inverted, family)
    }

    /// " ! -d 10.96.0.0/12": an address and its prefix length, or its mask when that is no prefix.
    static func address(_ option: String, _ address: [UInt8], mask: [UInt8], _ inverted: Bool, _ family: Family) -> String? {
        guard let text = XtablesExtensions.address(address, family) else { return nil }
        let suffix: String
        if let length = prefixLength(mask) { suffix = "\(length)" } else {
            guard let shown = XtablesExtensions.address(mask, family) else { return nil }
            suffix = shown
        }
        return (inverted ? " !" : "") + " \(option) \(text)/\(suffix)"
    }

    /// print_iface: the name up to where the mask ends, `+` when it ends before the name does.
    func interface(_ letter: String, _ field: (name: [UInt8], mask: [UInt8]), _ inverted: Bool) -> String {
        guard field.mask.first != 0 else { return "" }
        var name: [UInt8] = []
        for index in field.mask.indices {
            if field.mask[index] != 0 {
                if field.name[index] != 0 { name.append(field.name[index]) }
            } else {
                if field.name[index - 1] != 0 { name.append(UInt8(ascii: "+")) }
                break
            }
        }
        return (inverted ? " !" : "") + " -\(letter) " + String(decoding: name, as: UTF8.self)
    }

    /// The number of leading one bits of a contiguous mask; nil for a mask that is not one.
    static func prefixLength(_ mask: [UInt8]) -> Int? {
        var length = 0, ended = false
        for byte in mask {
            for bit in (0..<8).reversed() {
                let one = byte & (1 << bit) != 0
                if one && ended { return nil }
                if one { length += 1 } else { ended = true }
            }
        }
        return length
    }

    /// The protocol's name as the save tool prints it: from its own table (xtables_chain_protos,
    /// looked up before /etc/protocols), for the protocols whose name both agree on; nil for the
    /// rest, whose name would depend on the host's /etc/protocols.
    static func protocolName(_ number: UInt16) -> String? { protocolNames[number] }

    static let protocolNames: [UInt16: String] = [6: "tcp", 17: "udp", 1: "icmp", 132: "sctp", 136: "udplite", 50: "esp", 51: "ah"]
}

/// The bytes of a C field (an address, a fixed array), in memory order.
private func rawBytes<T>(_ field: T) -> [UInt8] {
    withUnsafeBytes(of: field) { Array($0) }
}
