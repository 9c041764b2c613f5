/// An IPv4 or IPv6 address, kept as a number in host order; backends convert to bytes or text.
public enum IPAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    case v4(UInt32)
    case v6(UInt128)

    public var family: Family {
        switch self {
        case .v4: .ipv4
        case .v6: .ipv6
        }
    }

    /// Bits in an address of this family.
    public var width: Int { family == .ipv4 ? 32 : 128 }

    /// 127.0.0.0/8 for IPv4, ::1 for IPv6: what Go's `netip.Addr.IsLoopback` calls loopback,
    /// which is what Istio tests to decide whether an include list names the host itself.
    public var isLoopback: Bool {
        switch self {
        case .v4(let value): value >> 24 == 127
        case .v6(let value): value == 1
        }
    }

    public init?(_ text: Substring) {
        if text.utf8.contains(UInt8(ascii: ":")) {
            guard let value = IPAddress.parseV6(text) else { return nil }
            self = .v6(value)
        } else {
            guard let value = IPAddress.parseV4(text) else { return nil }
            self = .v4(value)
        }
    }

    public init?(_ text: String) { self.init(Substring(text)) }

    /// Dotted quad, four decimal parts without leading zeros (a leading zero means octal to some
    /// tools and decimal to others, so it is refused rather than guessed).
    static func parseV4(_ text: Substring) -> UInt32? {
        // On UTF-8 bytes: config files carry thousands of these, and Character iteration
        // (grapheme breaking) would dominate the whole compile.
        var value: UInt32 = 0, part: UInt32 = 0, digits = 0, parts = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, parts < 3, part <= 255 else { return nil }
                value = value << 8 | part
                (part, digits, parts) = (0, 0, parts + 1)
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                // No leading zeros: "010" is octal to some tools and decimal to others.
                guard digits < 3, !(digits == 1 && part == 0) else { return nil }
                part = part * 10 + UInt32(byte - UInt8(ascii: "0"))
                digits += 1
            } else {
                return nil
            }
        }
        guard digits > 0, parts == 3, part <= 255 else { return nil }
        return value << 8 | part
    }

    static func parseV6(_ text: Substring) -> UInt128? {
        // Split on "::" at most once; each side is a list of 16-bit groups, the last of which
        // may be a dotted IPv4 tail.
        // Split at the one "::" if there is one.
        var halves = [text]
        if let gap = text.indices.first(where: { text[$0...].hasPrefix("::") }) {
            let rest = text[text.index(gap, offsetBy: 2)...]
            guard !rest.indices.contains(where: { rest[$0...].hasPrefix("::") }) else { return nil }
            halves = [text[..<gap], rest]
        }
        func groups(_ side: Substring) -> [UInt16]? {
            if side.isEmpty { return [] }
            var out: [UInt16] = []
            let parts = side.split(separator: ":", omittingEmptySubsequences: false)
            for (index, part) in parts.enumerated() {
                if index == parts.count - 1, part.contains(".") {
                    guard let v4 = parseV4(part) else { return nil }
                    out += [UInt16(v4 >> 16), UInt16(v4 & 0xffff)]
                } else {
                    guard (1...4).contains(part.count), part.allSatisfy(\.isHexDigit),
                          let group = UInt16(part, radix: 16) else { return nil }
                    out.append(group)
                }
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count <= 7 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.reduce(UInt128(0)) { $0 << 16 | UInt128($1) }
    }

    /// "10.96.0.1" into `buffer` (15 bytes at most); how many bytes it took.
    static func writeIPv4(_ value: UInt32, into buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var at = 0
        for shift in [24, 16, 8, 0] as [UInt32] {
            let part = UInt8(truncatingIfNeeded: value >> shift)
            if shift != 24 { buffer[at] = UInt8(ascii: "."); at += 1 }
            if part >= 100 { buffer[at] = UInt8(ascii: "0") + part / 100; at += 1 }
            if part >= 10 { buffer[at] = UInt8(ascii: "0") + part / 10 % 10; at += 1 }
            buffer[at] = UInt8(ascii: "0") + part % 10
            at += 1
        }
        return at
    }

    /// RFC 5952 text: lowercase, no leading zeros, the longest run (two or more) of zero groups
    /// shortened to "::", the first such run on a tie.
    public var description: String {
        switch self {
        case .v4(let value):
            // Digit by digit into the string's own storage (inline: at most 15 bytes): verify
            // writes one per set element (10,000s), and interpolating four numbers cost more
            // than reading the element from the kernel.
            return String(unsafeUninitializedCapacity: 15) { Self.writeIPv4(value, into: $0) }
        case .v6(let value):
            let groups = (0..<8).map { UInt16(truncatingIfNeeded: value >> (112 - 16 * $0)) }
            var best = (start: -1, length: 0)
            var index = 0
            while index < 8 {
                guard groups[index] == 0 else { index += 1; continue }
                var end = index
                while end < 8 && groups[end] == 0 { end += 1 }
                if end - index > best.length { best = (index, end - index) }
                index = end
            }
            let hex = groups.map { String($0, radix: 16) }
            guard best.length >= 2 else { return hex.joined(separator: ":") }
            let head = hex[..<best.start].joined(separator: ":")
            let tail = hex[(best.start + best.length)...].joined(separator: ":")
            return head + "::" + tail
        }
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        switch (lhs, rhs) {
        case let (.v4(a), .v4(b)): a < b
        case let (.v6(a), .v6(b)): a < b
        case (.v4, .v6): true
        case (.v6, .v4): false
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
