@testable import MeshCapture
import TestSupport

/// Random configs that are valid by construction, and the many ways a person or a tool writes
/// the same config down. The properties in ConfigPropertyTests hold for all of them.
struct ConfigGenerator {
    var random: SeededRandom

    /// One KEY=VALUE: the key as written (its Istio name or an alias) and a valid value.
    struct Entry: Equatable {
        let canonical: String
        var written: String
        var value: String
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &random) < p }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }

    mutating func ports(_ count: ClosedRange<Int>) -> String {
        var chosen: [Int] = []
        while chosen.count < int(count) {
            let port = int(1...65535)
            if !chosen.contains(port) { chosen.append(port) }
        }
        return chosen.map(String.init).joined(separator: ",")
    }

    mutating func prefix(_ family: Family) -> String {
        if family == .ipv4 {
            let length = int(0...32)
            let raw = UInt32.random(in: 0...UInt32.max, using: &random)
            let mask: UInt32 = length == 0 ? 0 : UInt32.max << (32 - length)
            return "\(IPAddress.v4(raw & mask))/\(length)"
        }
        let length = int(0...128)
        let raw = UInt128(UInt64.random(in: 0...UInt64.max, using: &random)) << 64 | UInt128(UInt64.random(in: 0...UInt64.max, using: &random))
        let mask: UInt128 = length == 0 ? 0 : UInt128.max << (128 - length)
        return "\(IPAddress.v6(raw & mask))/\(length)"
    }

    mutating func prefixes(_ count: ClosedRange<Int>) -> String {
        (0..<int(count)).map { _ in prefix(chance(0.7) ? .ipv4 : .ipv6) }.joined(separator: ",")
    }

    mutating func ids(_ count: ClosedRange<Int>) -> String {
        (0..<int(count)).map { _ in String(int(0...70000)) }.joined(separator: ",")
    }

    mutating func interfaces() -> String {
        (0..<int(1...3)).map { _ in pick(["eth", "ens", "br-", "veth", "k6t-eth", "wg"]) + String(int(0...99)) }.joined(separator: ",")
    }

    mutating func boolean() -> String { pick(["true", "false", "1", "0", "True", "FALSE"]) }

    /// A valid value for a rule-shaping key, or nil for keys this generator leaves alone.
    mutating func value(for key: String) -> String? {
        switch key {
        case "PROXY_PORT", "INBOUND_CAPTURE_PORT", "INBOUND_TUNNEL_PORT": String(int(1...65535))
        case "PROXY_UID", "PROXY_GID", "OUTBOUND_OWNER_GROUPS_EXCLUDE": ids(1...3)
        case "OUTBOUND_OWNER_GROUPS_INCLUDE": chance(0.3) ? "*" : ids(1...4)
        case "INBOUND_INTERCEPTION_MODE": pick(["REDIRECT", "TPROXY"])
        case "INBOUND_TPROXY_MARK": chance(0.5) ? String(int(1...1_000_000)) : "0x" + String(int(1...0xffff), radix: 16)
        case "INBOUND_TPROXY_ROUTE_TABLE": String(int(1...252))
        case "INBOUND_PORTS_INCLUDE": chance(0.3) ? "*" : ports(1...6)
        case "INBOUND_PORTS_EXCLUDE", "OUTBOUND_PORTS_INCLUDE", "OUTBOUND_PORTS_EXCLUDE": ports(1...6)
        case "OUTBOUND_IPRANGES_INCLUDE": chance(0.2) ? "*" : prefixes(1...5)
        // Sometimes hundreds: lines of several kilobytes.
        case "OUTBOUND_IPRANGES_EXCLUDE": prefixes(chance(0.2) ? 100...400 : 1...5)
        case "INBOUND_IPRANGES_EXCLUDE": prefixes(chance(0.2) ? 20...100 : 1...5)
        case "MESHCAP_LOG": pick(["true", "false", "web-1", "a.b_c"])
        case "MESHCAP_LOG_GROUP": String(int(0...65535))
        case "MESHCAP_LIST_LAYOUT": pick(["istio", "sets", "auto"])
        case "KUBE_VIRT_INTERFACES", "EXCLUDE_INTERFACES": interfaces()
        case "REDIRECT_DNS", "CAPTURE_ALL_DNS", "DROP_INVALID", "ENABLE_INBOUND_IPV6": boolean()
        case "DNS_SERVERS_V4": (0..<int(1...3)).map { _ in IPAddress.v4(UInt32.random(in: 1...UInt32.max, using: &random)).description }.joined(separator: ",")
        case "DNS_SERVERS_V6": (0..<int(1...2)).map { _ in IPAddress.v6(UInt128(UInt64.random(in: 1...UInt64.max, using: &random))).description }.joined(separator: ",")
        case "HOST_IPV4_LOOPBACK_CIDR": pick(["127.0.0.1/32", "127.0.0.0/8", "127.0.0.6/32"])
        default: nil
        }
    }

    /// Distinct keys, each with a valid value, written under a random one of its names.
    mutating func entries() -> [Entry] {
        var entries: [Entry] = []
        for key in ConfigKey.all where key.shapesRules && chance(0.45) {
            guard let value = value(for: key.name) else { continue }
            entries.append(Entry(canonical: key.name, written: pick([key.name] + key.aliases), value: value))
        }
        return entries
    }

    /// How one entry is written: `export` or not (blank after it a space or a tab), bare or
    /// quoted (single, double, or istioctl's shellescape pieces), a trailing comment or not.
    mutating func line(_ entry: Entry) -> String {
        let export = chance(0.2) ? "export" + pick([" ", "\t", " \t "]) : ""
        let value: String
        switch int(0...3) {
        case 0: value = entry.value.isEmpty ? "''" : entry.value
        case 1: value = "'\(entry.value)'"
        case 2: value = "\"\(entry.value)\""
        default:
            let cut = entry.value.index(entry.value.startIndex, offsetBy: int(0...entry.value.count))
            value = "'\(entry.value[..<cut])'\"\(entry.value[cut...])\""
        }
        let comment = chance(0.2) ? pick([" # set by chef", "\t# why", "   #"]) : ""
        return pick(["", " ", "\t"]) + export + "\(entry.written)=" + value + comment
    }

    /// Lines with comments and blank lines mixed in.
    mutating func document(_ entries: [Entry]) -> [String] {
        var lines: [String] = []
        for entry in entries {
            if chance(0.2) { lines.append(pick(["# a comment", "", "   ", "#ISTIO_SERVICE_CIDR=commented-out", "\t"])) }
            lines.append(line(entry))
        }
        return lines
    }
}
