import CNftnl
import MeshCapture

/// A named set as nft 1.0.6 sends `set NAME { type ipv4_addr; flags interval; counter; elements =
/// { ... } }` (or `type inet_service; counter;` for ports): the set with a counter expression (the
/// kernel gives each element its own), then its elements, prefixes as interval starts and ends,
/// in messages small enough for netlink's 64 KiB attribute limit.
public struct NamedSetMessages: Hashable, Sendable {
    public let set: NamedSet
    /// How rules in the same batch name it (NFTA_SET_ID).
    public let id: UInt32
    /// Where elements start counting: a live set's numbers for the elements it keeps (the rest,
    /// and every element of a new set, from zero).
    public let counters: [SetElement: Counter]

    public init(set: NamedSet, id: UInt32, counters: [SetElement: Counter] = [:]) {
        self.set = set
        self.id = id
        // A set without element counters takes none (a live one may have had them).
        self.counters = set.countsElements ? counters : [:]
    }

    /// Elements per NEWSETELEM message: an IPv6 range is two elements, up to about 110 bytes with
    /// a carried counter, so 512 ranges stay under netlink's 64 KiB attribute limit.
    static let itemsPerMessage = 512

    /// nft's datatype numbers (src/datatype.h: TYPE_IPADDR, TYPE_IP6ADDR, TYPE_INET_SERVICE) and key lengths.
    var key: (type: UInt32, length: UInt32) {
        switch set {
        case .prefixes(let prefixes): prefixes.family == .ipv4 ? (7, 4) : (8, 16)
        case .ports: (13, 2)
        }
    }

    var count: Int { self.set.count }

    /// The element messages' shares of the set's prefixes or ports.
    public var chunks: [Range<Int>] {
        stride(from: 0, to: count, by: Self.itemsPerMessage).map { $0..<min($0 + Self.itemsPerMessage, count) }
    }

    func makeSet(table: String) -> NftnlSet {
        let nftnl = NftnlSet(family: UInt32(NFPROTO_INET), table: table, name: set.name, id: id)
        if case .prefixes = set { nftnl.set(NFTNL_SET_FLAGS, NFT_SET_INTERVAL.rawValue) }
        nftnl.set(NFTNL_SET_KEY_TYPE, key.type)
        nftnl.set(NFTNL_SET_KEY_LEN, key.length)
        // The key byte order record (NFTNL_UDATA_SET_KEYBYTEORDER = 0, big-endian = 2), so that
        // `nft list` prints the keys as addresses and ports.
        nftnl.set(NFTNL_SET_USERDATA, bytes: [0, 4] + Encoding.host(UInt32(2)))
        if set.countsElements { nftnl.addCounterExpression() }
        return nftnl
    }

    /// One message's elements. A prefix is its first address and, flagged as an interval end,
    /// the address after its last (none when it ends at the top of the address space); like nft,
    /// the first message opens with an end at address zero unless the first prefix starts there.
    func makeElements(table: String, chunk: Range<Int>) -> NftnlSet {
        let nftnl = NftnlSet(family: UInt32(NFPROTO_INET), table: table, name: set.name, id: id)
        switch set {
        case .ports(let ports):
            for port in ports.ports[chunk] { nftnl.addElement(key: Encoding.bigEndian(port), counter: counters[.port(port)]) }
        case .prefixes(let prefixes):
            let zero = [UInt8](repeating: 0, count: Int(key.length))
            if chunk.lowerBound == 0, let first = prefixes.prefixes.first, Encoding.bytes(first.address) != zero {
                nftnl.addElement(key: zero, intervalEnd: true)
            }
            for prefix in prefixes.prefixes[chunk] {
                nftnl.addElement(key: Encoding.bytes(prefix.address), counter: counters[.prefix(prefix)])
                if let end = Self.after(prefix.last) { nftnl.addElement(key: Encoding.bytes(end), intervalEnd: true) }
            }
        }
        return nftnl
    }

    /// What a set element's key holds: a port (2 bytes, network order) or an address (4 or 16).
    public enum Key: Hashable, Sendable {
        case port(Port)
        case address(IPAddress)

        /// A key as the kernel sends it, in network byte order; nil for a length meshcap never
        /// writes (a concatenation, a MAC address).
        public init?(_ bytes: UnsafeRawBufferPointer) {
            switch bytes.count {
            case 2: self = .port(Port(bytes[0]) << 8 | Port(bytes[1]))
            case 4: self = .address(.v4(bytes.reduce(0) { $0 << 8 | UInt32($1) }))
            case 16: self = .address(.v6(bytes.reduce(0) { $0 << 8 | UInt128($1) }))
            default: return nil
            }
        }
    }

    /// The next address; nil after the last one of the family.
    static func after(_ address: IPAddress) -> IPAddress? {
        switch address {
        case .v4(let value): value == .max ? nil : .v4(value + 1)
        case .v6(let value): value == .max ? nil : .v6(value + 1)
        }
    }

    /// The prefixes a dump's elements (address, is an interval end) describe, in order, each
    /// with the index of its start element (which carries its counter); nil if a range is not
    /// exactly one prefix (meshcap writes none such) or the addresses are not of `family`.
    public static func prefixes(_ elements: [(address: IPAddress, intervalEnd: Bool)], family: Family) -> [(prefix: Prefix, start: Int)]? {
        guard elements.allSatisfy({ $0.address.family == family }) else { return nil }
        // In address order, an end before a start at the same address (touching ranges). The
        // kernel dumps an interval set highest first: reversed, it is in order without a sort.
        func ordered(_ i: Int, _ j: Int) -> Bool {
            let a = elements[i], b = elements[j]
            return a.address != b.address ? a.address < b.address : a.intervalEnd && !b.intervalEnd
        }
        var order = Array(elements.indices.reversed())
        if zip(order, order.dropFirst()).contains(where: { ordered($1, $0) }) { order.sort(by: ordered) }
        var prefixes: [(prefix: Prefix, start: Int)] = [], open: Int?
        prefixes.reserveCapacity(elements.count / 2 + 1)
        func close(_ last: IPAddress) -> Bool {
            guard let first = open else { return true }
            open = nil
            guard let prefix = Prefix.exactly(elements[first].address, last) else { return false }
            prefixes.append((prefix, first))
            return true
        }
        for index in order {
            let element = elements[index]
            if element.intervalEnd {
                guard let start = open else { continue }
                guard element.address > elements[start].address, close(before(element.address)) else { return nil }
            } else {
                guard open == nil else { return nil }
                open = index
            }
        }
        let top: IPAddress = family == .ipv4 ? .v4(.max) : .v6(.max)
        return close(top) ? prefixes : nil
    }

    private static func before(_ address: IPAddress) -> IPAddress {
        switch address {
        case .v4(let value): .v4(value - 1)
        case .v6(let value): .v6(value - 1)
        }
    }
}
