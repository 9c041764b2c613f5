import CMnl
import CNftnl
import Glibc
import MeshCapture
import NftablesBackend

/// A rule as the kernel holds it: where it is, its bytecode, what it means in the model, and
/// its counter. `verify` and `diff` build on this.
public struct DumpedRule: Sendable {
    public let table: String
    public let chain: String
    public let handle: UInt64
    /// nil when one of them is of a kind meshcap never writes.
    public let expressions: [NftExpression]?
    /// nil for bytecode meshcap does not write (another tool's rule, or a hand edit).
    public let rule: Rule?
    public let packets: UInt64
    public let bytes: UInt64
}

/// Reads rules back over netlink (NFT_MSG_GETRULE, NFT_MSG_GETSETELEM dumps), without `nft`.
public enum RuleDump {
    /// How often a dump is tried when the ruleset keeps changing under it (NLM_F_DUMP_INTR).
    static let attempts = 20

    /// One consistent reading of the rules.
    public struct Snapshot: Sendable {
        public let rules: [DumpedRule]
        /// Dumps thrown away because the ruleset changed while they ran.
        public let interruptions: Int
    }

    /// Every rule of the given inet tables, in chain order.
    public static func rules(tables: Set<String>) throws -> [DumpedRule] { try snapshot(tables: tables).rules }

    public static func snapshot(tables: Set<String>) throws -> Snapshot {
        let socket = try NetlinkSocket()
        for attempt in 0..<attempts {
            guard let raw = try dump(socket, type: NFT_MSG_GETRULE) else { continue }
            let parsed = raw.compactMap { message -> (NftnlRule, [NftExpression]?)? in
                guard let rule = withMessage(message, { NftnlRule(parsing: $0) }) ?? nil, tables.contains(rule.table) else { return nil }
                return (rule, rule.expressions)
            }
            // The anonymous sets the rules look up, by table, for their ports.
            var setPorts: [String: RuleDecoder.SetPorts] = [:]
            var setsVanished = false
            for (rule, expressions) in parsed {
                for case .lookup(let lookup) in expressions ?? [] where setPorts[rule.table]?[lookup.set] == nil {
                    guard let ports = try setElements(socket, table: rule.table, set: lookup.set) else { setsVanished = true; continue }
                    setPorts[rule.table, default: [:]][lookup.set] = ports
                }
            }
            if setsVanished { continue }
            let rules = parsed.map { rule, expressions in
                let counter = rule.counter
                return DumpedRule(table: rule.table, chain: rule.chain, handle: rule.handle, expressions: expressions,
                                  rule: expressions.flatMap { RuleDecoder.decode($0, sets: setPorts[rule.table] ?? [:]) },
                                  packets: counter?.packets ?? 0, bytes: counter?.bytes ?? 0)
            }
            return Snapshot(rules: rules, interruptions: attempt)
        }
        throw HostError("the ruleset kept changing while it was read (\(attempts) attempts)")
    }

    /// The messages of one dump, each copied out; nil if the dump was interrupted by a change.
    static func dump(_ socket: NetlinkSocket, type: nf_tables_msg_types, payload: ((UnsafeMutablePointer<nlmsghdr>) -> Void)? = nil) throws -> [[UInt8]]? {
        var request = [CChar](repeating: 0, count: 4096)
        let sequence = UInt32(truncatingIfNeeded: time(nil))
        let length = request.withUnsafeMutableBufferPointer { buffer -> Int in
            guard let base = buffer.baseAddress,
                  let header = nftnl_nlmsg_build_hdr(base, UInt16(type.rawValue), UInt16(NFPROTO_INET), UInt16(NLM_F_DUMP), sequence)
            else { return 0 }
            payload?(header)
            return Int(header.pointee.nlmsg_len)
        }
        try request.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress, length > 0 else { throw HostError("cannot build a dump request") }
            try socket.sendRequest(base, length: length)
        }

        var messages: [[UInt8]] = []
        var interrupted = false
        var buffer = [UInt8](repeating: 0, count: 64 * 1024 + 4096)
        while true {
            guard let count = try socket.receive(into: &buffer, wait: true) else { continue }
            for message in NetlinkMessage.split(buffer[0..<count]) where message.sequence == sequence {
                if message.flags & UInt16(NLM_F_DUMP_INTR) != 0 { interrupted = true }
                switch Int32(message.type) {
                case NLMSG_DONE:
                    return interrupted ? nil : messages
                case NLMSG_ERROR:
                    let code = message.errorCode ?? EPROTO
                    if code == EINTR { return nil }
                    if code != 0 { throw HostError("the kernel refused a dump", errno: code) }
                default:
                    messages.append(Array(message.bytes))
                }
            }
        }
    }

    /// The ports in an anonymous set; nil if the set vanished meanwhile.
    static func setElements(_ socket: NetlinkSocket, table: String, set name: String) throws -> [Port]? {
        let query = NftnlSetQuery(table: table, name: name)
        guard let messages = try dump(socket, type: NFT_MSG_GETSETELEM, payload: query.build) else { return nil }
        var ports: [Port] = []
        for message in messages {
            for key in withMessage(message, NftnlSetQuery.keys) ?? [] where key.count == 2 {
                ports.append(Port(key[0]) << 8 | Port(key[1]))
            }
        }
        return ports
    }

    /// Runs `body` on a copied-out message as a `struct nlmsghdr` pointer.
    static func withMessage<Result>(_ message: [UInt8], _ body: (UnsafePointer<nlmsghdr>) -> Result) -> Result? {
        message.withUnsafeBytes { bytes in
            bytes.baseAddress.map { body($0.assumingMemoryBound(to: nlmsghdr.self)) }
        }
    }
}
