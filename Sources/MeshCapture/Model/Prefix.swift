/// A network prefix (CIDR): an address and how many leading bits of it count.
/// Always a network address: host bits are zero (see `PrefixError.hostBitsSet`).
public struct Prefix: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let address: IPAddress
    public let length: Int

    public var family: Family { address.family }

    /// The whole address: /32 or /128.
    public var isHost: Bool { length == address.width }

    public init(host address: IPAddress) {
        self.address = address
        self.length = address.width
    }

    /// A prefix whose host bits are already zero.
    public init(network address: IPAddress, length: Int) throws(PrefixError) {
        guard (0...address.width).contains(length) else {
            throw .lengthOutOfRange(length, family: address.family)
        }
        let candidate = Prefix(unchecked: address, length: length)
        guard candidate.hostBits == 0 else {
            throw .hostBitsSet(network: candidate.masked, hostBits: candidate.hostBitsAddress)
        }
        self = candidate
    }

    private init(unchecked address: IPAddress, length: Int) {
        self.address = address
        self.length = length
    }

    /// "10.0.0.0/8", "2001:db8::/32", or a bare address meaning a host prefix.
    public static func parse(_ text: Substring) throws(PrefixError) -> Prefix {
        guard let slash = text.utf8.firstIndex(of: UInt8(ascii: "/")) else {
            guard let address = IPAddress(text) else { throw .malformed }
            return Prefix(host: address)
        }
        let lengthText = text[text.index(after: slash)...]
        guard let address = IPAddress(text[..<slash]), !lengthText.isEmpty,
              lengthText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let length = Int(lengthText) else { throw .malformed }
        return try Prefix(network: address, length: length)
    }

    /// Like `parse`, but an address with host bits (an interface address such as `127.0.0.1/8`)
    /// is turned into its network, as `ip addr` notation means it.
    public static func parseMasking(_ text: Substring) throws(PrefixError) -> Prefix {
        do {
            return try parse(text)
        } catch .hostBitsSet(let network, _) {
            return network
        }
    }

    private var mask: UInt128 {
        let width = address.width
        return length == 0 ? 0 : ((UInt128.max >> (128 - width)) >> (width - length)) << (width - length)
    }

    private var raw: UInt128 {
        switch address {
        case .v4(let value): UInt128(value)
        case .v6(let value): value
        }
    }

    private func address(_ value: UInt128) -> IPAddress {
        address.family == .ipv4 ? .v4(UInt32(truncatingIfNeeded: value)) : .v6(value)
    }

    private var hostBits: UInt128 { raw & ~mask & (UInt128.max >> (128 - address.width)) }
    private var hostBitsAddress: IPAddress { address(hostBits) }
    private var masked: Prefix { Prefix(unchecked: address(raw & mask), length: length) }

    public var description: String {
        guard case .v4(let value) = address else { return "\(address)/\(length)" }
        // IPv4 in one string of at most 18 bytes: verify names a row by it for each element of a
        // set of 10,000s.
        return String(unsafeUninitializedCapacity: 18) { buffer in
            var at = IPAddress.writeIPv4(value, into: buffer)
            buffer[at] = UInt8(ascii: "/")
            at += 1
            if length >= 10 { buffer[at] = UInt8(ascii: "0") + UInt8(length / 10); at += 1 }
            buffer[at] = UInt8(ascii: "0") + UInt8(length % 10)
            return at + 1
        }
    }

    /// The highest address in the prefix (`address` is the lowest).
    public var last: IPAddress { address(raw | (~mask & (UInt128.max >> (128 - address.width)))) }

    /// The prefix one bit shorter that holds this one and its other half; nil for a /0.
    public var parent: Prefix? {
        guard length > 0 else { return nil }
        return Prefix(unchecked: address, length: length - 1).masked
    }

    /// The prefix that runs from `first` to `last` exactly; nil if no prefix does.
    public static func exactly(_ first: IPAddress, _ last: IPAddress) -> Prefix? {
        guard first.family == last.family, first <= last else { return nil }
        // A prefix spans a power of two of addresses: the span less one is all one-bits.
        let span = Prefix(host: last).raw - Prefix(host: first).raw
        guard span & (span &+ 1) == 0 else { return nil }
        let hostBits = UInt128.bitWidth - span.leadingZeroBitCount
        return try? Prefix(network: first, length: first.width - hostBits)
    }

    /// Whether `other` lies wholly inside this prefix.
    public func contains(_ other: Prefix) -> Bool { other.length >= length && contains(other.address) }

    /// Whether the address lies in this prefix.
    public func contains(_ address: IPAddress) -> Bool {
        switch (self.address, address) {
        case (.v4(let network), .v4(let value)): length == 0 || value >> (32 - length) == network >> (32 - length)
        case (.v6(let network), .v6(let value)): length == 0 || value >> (128 - length) == network >> (128 - length)
        default: false
        }
    }

    public static func < (lhs: Prefix, rhs: Prefix) -> Bool {
        (lhs.address, lhs.length) < (rhs.address, rhs.length)
    }
}

public enum PrefixError: Error, Equatable, Sendable {
    case malformed
    case lengthOutOfRange(Int, family: Family)
    case hostBitsSet(network: Prefix, hostBits: IPAddress)
}
