import CMnl
import Glibc
import MeshCapture
import NftablesBackend

/// meshcap's policy routing on the host, over rtnetlink (no `ip` binary): the TPROXY mark rule,
/// its local-only route table, and ::6 on lo. Each entry meshcap makes asks for its own protocol
/// number (`proto 109` in `ip rule` / `ip route`, IFA_PROTO for the address), so it is found
/// again exactly, as the ownership comment finds iptables rules; an entry of the config's shape
/// without it (made by Istio or by hand, or on a kernel too old to keep the number: IFA_PROTO
/// came with 5.18, FRA_PROTOCOL with 4.17; apply says when it was dropped) is recognised when
/// a config names it.
public enum PolicyRouting {
    /// "m": rt_protos leaves numbers above the kernel's to the daemons that own routes.
    public static let protocolTag: UInt8 = 109

    /// An entry found on the host.
    public struct Observed: Sendable, Hashable {
        public let entry: RoutingEntry
        /// Made by meshcap (carries its protocol number).
        public let tagged: Bool
        /// A rule's preference, so it is deleted exactly.
        let priority: UInt32?
    }

    /// Every entry of the shapes meshcap makes, tagged or not.
    public static func observe() throws(HostError) -> [Observed] {
        let socket = try NetlinkConnection.socket(NETLINK_ROUTE)
        var found: [Observed] = []
        let loopback = if_nametoindex("lo")
        for family in Family.allCases {
            let rules = try request(type: RTM_GETRULE, flags: NLM_F_DUMP, header: ruleHeader(family, table: 0))
                .exchange(on: socket, what: "cannot read the policy routing rules")
            for message in rules {
                // Of this family, selecting no TOS and not inverted (`not fwmark ...` is not meshcap's).
                guard let fields = Fields(message, headerLength: 12), fields.header[0] == addressFamily(family), fields.header[3] == 0,
                      ArraySlice(fields.header).u32(at: 8) & 0x2 /* FIB_RULE_INVERT */ == 0,
                      fields.header[7] == UInt8(truncatingIfNeeded: k(FR_ACT_TO_TBL)),
                      let mark = fields.u32(k(FRA_FWMARK)),
                      fields.u32(k(FRA_FWMASK)).map({ $0 == .max }) ?? true,
                      // Only a rule that selects by the mark and nothing else is of meshcap's shape.
                      fields.header[1] == 0, fields.header[2] == 0, fields.attributes.allSatisfy({ [k(FRA_FWMARK), k(FRA_FWMASK), k(FRA_TABLE), k(FRA_PRIORITY), k(FRA_PROTOCOL), k(FRA_SUPPRESS_PREFIXLEN)].contains(UInt32($0.type)) })
                else { continue }
                let table = fields.u32(k(FRA_TABLE)) ?? UInt32(fields.header[4])
                found.append(Observed(entry: .markRule(family, mark: mark, table: table),
                                      tagged: fields.u8(k(FRA_PROTOCOL)) == protocolTag, priority: fields.u32(k(FRA_PRIORITY))))
            }
            let routes = try request(type: RTM_GETROUTE, flags: NLM_F_DUMP, header: routeHeader(family, table: 0, protocol: 0))
                .exchange(on: socket, what: "cannot read the routes")
            for message in routes {
                // A kernel without the family asked for answers with every family's routes.
                guard let fields = Fields(message, headerLength: 12), fields.header[0] == addressFamily(family),
                      fields.header[7] == UInt8(truncatingIfNeeded: k(RTN_LOCAL)), fields.header[1] == 0,
                      fields.u32(UInt32(k(RTA_OIF))) == loopback, fields.u32(UInt32(k(RTA_GATEWAY))) == nil
                else { continue }
                let table = fields.u32(UInt32(k(RTA_TABLE))) ?? UInt32(fields.header[4])
                // The kernel's own local table holds local routes too; meshcap's go to a table of their own.
                guard table != UInt32(k(RT_TABLE_LOCAL)) else { continue }
                found.append(Observed(entry: .localDefault(family, table: table), tagged: fields.header[5] == protocolTag, priority: nil))
            }
        }
        let addresses = try request(type: RTM_GETADDR, flags: NLM_F_DUMP, header: addressHeader(prefixLength: 0, interface: 0))
            .exchange(on: socket, what: "cannot read the addresses")
        for message in addresses {
            guard let fields = Fields(message, headerLength: 8), fields.header[0] == UInt8(AF_INET6),
                  ArraySlice(fields.header).u32(at: 4) == loopback,
                  let local = fields.payload(k(IFA_ADDRESS)), local.count == 16 else { continue }
            let prefix = try? Prefix(network: .v6(local.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }), length: Int(fields.header[1]))
            guard let prefix, prefix.length == 128, prefix.address != .v6(1) else { continue }
            found.append(Observed(entry: .loopbackAddress(prefix), tagged: fields.u8(k(IFA_PROTO)) == protocolTag, priority: nil))
        }
        return found
    }

    /// Adds an entry, tagged as meshcap's; false if it was already there.
    @discardableResult
    public static func add(_ entry: RoutingEntry) throws(HostError) -> Bool {
        try change(entry, adding: true, priority: nil)
    }

    /// Removes an entry found on the host; false if it was already gone.
    @discardableResult
    public static func remove(_ observed: Observed) throws(HostError) -> Bool {
        try change(observed.entry, adding: false, priority: observed.priority)
    }

    static func change(_ entry: RoutingEntry, adding: Bool, priority: UInt32?) throws(HostError) -> Bool {
        let socket = try NetlinkConnection.socket(NETLINK_ROUTE)
        let flags = NLM_F_ACK | (adding ? NLM_F_CREATE | NLM_F_EXCL : 0)
        var message: NetlinkRequest
        switch entry {
        case .markRule(let family, let mark, let table):
            message = request(type: adding ? RTM_NEWRULE : RTM_DELRULE, flags: flags, header: ruleHeader(family, table: table))
            message.attribute(UInt16(truncatingIfNeeded: k(FRA_FWMARK)), Encoding.host(mark))
            message.attribute(UInt16(truncatingIfNeeded: k(FRA_TABLE)), Encoding.host(table))
            if let priority { message.attribute(UInt16(truncatingIfNeeded: k(FRA_PRIORITY)), Encoding.host(priority)) }
            if adding { message.attribute(UInt16(truncatingIfNeeded: k(FRA_PROTOCOL)), [protocolTag]) }
        case .localDefault(let family, let table):
            message = request(type: adding ? RTM_NEWROUTE : RTM_DELROUTE, flags: flags,
                              header: routeHeader(family, table: table, protocol: adding ? protocolTag : 0))
            message.attribute(UInt16(truncatingIfNeeded: k(RTA_TABLE)), Encoding.host(table))
            message.attribute(UInt16(truncatingIfNeeded: k(RTA_OIF)), Encoding.host(if_nametoindex("lo")))
        case .loopbackAddress(let prefix):
            message = request(type: adding ? RTM_NEWADDR : RTM_DELADDR, flags: flags,
                              header: addressHeader(prefixLength: UInt8(prefix.length), interface: if_nametoindex("lo")))
            let bytes = addressBytes(prefix.address)
            message.attribute(UInt16(truncatingIfNeeded: k(IFA_LOCAL)), bytes)
            message.attribute(UInt16(truncatingIfNeeded: k(IFA_ADDRESS)), bytes)
            if adding { message.attribute(UInt16(truncatingIfNeeded: k(IFA_PROTO)), [protocolTag]) }
        }
        do {
            _ = try message.exchange(on: socket, what: "cannot \(adding ? entry.description : entry.removal)")
            return true
        } catch {
            if adding ? error.isAlreadyThere : error.isNotFound { return false }
            throw error
        }
    }

    static func request(type: Int, flags: Int32, header: [UInt8]) -> NetlinkRequest {
        NetlinkRequest(type: UInt16(type), flags: Int32(NLM_F_REQUEST) | flags, header: header)
    }

    static func request(type: Int32, flags: Int32, header: [UInt8]) -> NetlinkRequest {
        request(type: Int(type), flags: flags, header: header)
    }

    static func addressFamily(_ family: Family) -> UInt8 { UInt8(family == .ipv4 ? AF_INET : AF_INET6) }

    /// struct fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2, action, flags.
    static func ruleHeader(_ family: Family, table: UInt32) -> [UInt8] {
        [addressFamily(family), 0, 0, 0, table < 256 ? UInt8(table) : UInt8(truncatingIfNeeded: k(RT_TABLE_UNSPEC)), 0, 0, UInt8(truncatingIfNeeded: k(FR_ACT_TO_TBL))] + Encoding.host(UInt32(0))
    }

    /// struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    static func routeHeader(_ family: Family, table: UInt32, protocol proto: UInt8) -> [UInt8] {
        [addressFamily(family), 0, 0, 0, table < 256 ? UInt8(table) : UInt8(truncatingIfNeeded: k(RT_TABLE_UNSPEC)), proto,
         UInt8(truncatingIfNeeded: k(RT_SCOPE_HOST)), UInt8(truncatingIfNeeded: k(RTN_LOCAL))] + Encoding.host(UInt32(0))
    }

    /// struct ifaddrmsg: family, prefixlen, flags (no duplicate address detection: usable at once), scope, index.
    static func addressHeader(prefixLength: UInt8, interface: UInt32) -> [UInt8] {
        [UInt8(AF_INET6), prefixLength, UInt8(truncatingIfNeeded: k(IFA_F_NODAD)), 0] + Encoding.host(interface)
    }

    static func addressBytes(_ address: IPAddress) -> [UInt8] {
        switch address {
        case .v4(let value): (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }
        case .v6(let value): (0..<16).map { UInt8(truncatingIfNeeded: value >> (120 - 8 * $0)) }
        }
    }

    /// A reply's fixed header and attributes.
    struct Fields {
        let header: [UInt8]
        let attributes: [NetlinkAttribute]

        init?(_ message: NetlinkMessage, headerLength: Int) {
            let body = message.bytes.dropFirst(NetlinkMessage.headerLength)
            guard body.count >= headerLength else { return nil }
            header = Array(body.prefix(headerLength))
            attributes = NetlinkAttribute.walk(body.dropFirst(headerLength))
        }

        func payload(_ type: UInt32) -> ArraySlice<UInt8>? { attributes.first { UInt32($0.type) == type }?.payload }
        func u32(_ type: UInt32) -> UInt32? { payload(type).flatMap { $0.count >= 4 ? $0.u32(at: $0.startIndex) : nil } }
        func u8(_ type: UInt32) -> UInt8? { payload(type)?.first }
    }
}

/// The kernel's constants as numbers: C enums import as Int or as wrapper structs, by how the
/// header declares them.
private func k(_ value: Int) -> UInt32 { UInt32(truncatingIfNeeded: value) }
private func k(_ value: Int32) -> UInt32 { UInt32(bitPattern: value) }
private func k<T: RawRepresentable>(_ value: T) -> UInt32 where T.RawValue: BinaryInteger { UInt32(truncatingIfNeeded: value.rawValue) }
