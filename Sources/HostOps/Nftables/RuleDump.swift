import CMnl
import CNftnl
import Glibc
import MeshCapture
import NftablesBackend

/// Reads the ruleset back over netlink (NFT_MSG_GETGEN, GETCHAIN, GETRULE and GETSETELEM), without
/// `nft`.
public enum RuleDump {
    /// How often a reading is tried when the ruleset keeps changing under it (NLM_F_DUMP_INTR).
    static let attempts = 20

    /// Every chain of every table of every family: what runs beside meshcap's chains, and where
    /// iptables-nft keeps its ISTIO chains. Advisory, so read once, without waiting for a quiet
    /// moment.
    public static func allChains() throws -> [DumpedChain] {
        let socket = try NetlinkConnection.socket()
        // Read once per generation in a run: the residue, each iptables family and the chains
        // that may run ahead all ask.
        let generation: UInt32? = (try? self.generation(socket)) ?? nil
        if let generation, let known = NetlinkConnection.chains(at: generation) { return known }
        let chains = (try dump(socket, type: NFT_MSG_GETCHAIN, family: Int32(NFPROTO_UNSPEC), tolerateInterruption: true) ?? [])
            .compactMap { withMessage($0, { NftnlChain(parsing: $0) }) ?? nil }.map(dumpedChain)
        if let generation { NetlinkConnection.remember(chains, at: generation) }
        return chains
    }

    /// How many rules one chain holds (a GETRULE dump filtered to it: only its rules are sent).
    public static func ruleCount(_ chain: DumpedChain) throws -> Int {
        let socket = try NetlinkConnection.socket()
        let filter = NftnlRuleFilter(family: chain.family, table: chain.table, chain: chain.name)
        return try dump(socket, type: NFT_MSG_GETRULE, family: Int32(chain.family), tolerateInterruption: true, payload: filter.build)?.count ?? 0
    }

    /// NFT_MSG_GETRULE_RESET (Linux 6.2 and later, so Debian 12's headers lack the name): a
    /// rule dump that zeroes each counter as it reads it. Older kernels refuse it (EINVAL).
    static let getRuleReset = nf_tables_msg_types(rawValue: 25)

    /// Zeroes the counters of every rule in the given inet tables, nobody else's; how many rules.
    public static func resetCounters(tables: [String]) throws -> Int {
        let socket = try NetlinkConnection.socket()
        var count = 0
        for table in tables {
            let filter = NftnlRuleFilter(family: UInt32(NFPROTO_INET), table: table)
            count += try dump(socket, type: getRuleReset, tolerateInterruption: true, payload: filter.build)?.count ?? 0
        }
        return count
    }

    static func dumpedChain(_ chain: NftnlChain) -> DumpedChain {
        DumpedChain(family: chain.family, table: chain.table, name: chain.name, type: chain.type,
                    hook: chain.hook.flatMap { NetlinkBatch.Operation.hook(number: $0.number) }, priority: chain.hook?.priority,
                    policy: chain.policy)
    }

    public static func snapshot(tables: Set<String>) throws -> NftSnapshot {
        let socket = try NetlinkConnection.socket()
        for attempt in 0..<attempts {
            guard let before = try generation(socket), let rawChains = try dump(socket, type: NFT_MSG_GETCHAIN),
                  let raw = try dump(socket, type: NFT_MSG_GETRULE) else { continue }
            let chains = rawChains.compactMap { message -> DumpedChain? in
                guard let chain = withMessage(message, { NftnlChain(parsing: $0) }) ?? nil, tables.contains(chain.table) else { return nil }
                return dumpedChain(chain)
            }
            let parsed = raw.compactMap { message -> (NftnlRule, [NftExpression]?)? in
                guard let rule = withMessage(message, { NftnlRule(parsing: $0) }) ?? nil, tables.contains(rule.table) else { return nil }
                return (rule, rule.expressions)
            }
            // The sets the rules look up, by table: anonymous sets' ports, named sets' prefixes
            // and their elements' counters.
            var sets: [String: [String: SetReading]] = [:]
            var setsVanished = false
            for (rule, expressions) in parsed {
                for case .lookup(let lookup) in expressions ?? [] where sets[rule.table]?[lookup.set] == nil {
                    guard let reading = try setElements(socket, table: rule.table, set: lookup.set) else { setsVanished = true; continue }
                    sets[rule.table, default: [:]][lookup.set] = reading
                }
            }
            // No check that the generation is still `before`: a batch bound to it is refused if
            // anything changed after it was read, which is what matters; a read-only reading may
            // mix a chain list and a rule list a change apart.
            if setsVanished { continue }
            let contents = sets.mapValues { $0.compactMapValues(\.contents) }
            let rules = parsed.map { rule, expressions in
                let counter = expressions?.lazy.compactMap { if case .counter(let c) = $0 { c } else { nil } }.first ?? rule.counter
                let decoded = expressions.flatMap { RuleDecoder.decode($0, sets: contents[rule.table] ?? [:]) }
                var elements: [ElementCount] = []
                for set in decoded?.matches.compactMap(\.namedSet) ?? [] where set.countsElements {
                    let counters = sets[rule.table]?[set.name]?.counters ?? []
                    elements += set.elements.enumerated().map { index, element in
                        let counter = counters.indices.contains(index) ? counters[index] : nil
                        return ElementCount(element, packets: counter?.packets ?? 0, bytes: counter?.bytes ?? 0)
                    }
                }
                return DumpedRule(table: rule.table, chain: rule.chain, handle: rule.handle, expressions: expressions, rule: decoded,
                                  packets: counter?.packets ?? 0, bytes: counter?.bytes ?? 0,
                                  bytecode: decoded != nil ? nil
                                    : rule.text.split(separator: "\n").filter { $0.hasPrefix("  [") }.map { $0.trimmingPrefix("  ") }.joined(separator: " "),
                                  elements: elements)
            }
            return NftSnapshot(generation: before, chains: chains, rules: rules, interruptions: attempt)
        }
        throw HostError("the ruleset kept changing while it was read (\(attempts) attempts)")
    }

    /// The current ruleset generation (NFT_MSG_GETGEN).
    static func generation(_ socket: NetlinkSocket) throws -> UInt32? {
        var request = [CChar](repeating: 0, count: 256)
        let sequence = socket.nextSequence()
        let length = request.withUnsafeMutableBufferPointer { buffer -> Int in
            guard let base = buffer.baseAddress,
                  let header = nftnl_nlmsg_build_hdr(base, UInt16(NFT_MSG_GETGEN.rawValue), UInt16(NFPROTO_UNSPEC), 0, sequence)
            else { return 0 }
            return Int(header.pointee.nlmsg_len)
        }
        try request.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress, length > 0 else { throw HostError("cannot build a generation request") }
            try socket.sendRequest(base, length: length)
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            guard let count = try socket.receive(into: &buffer, wait: true) else { continue }
            for message in NetlinkMessage.split(buffer[0..<count]) where message.sequence == sequence {
                if let code = message.errorCode, code != 0 {
                    throw HostError("the kernel refused to name the ruleset generation", errno: code).appending(Self.permissionHint(code))
                }
                return withMessage(Array(message.bytes), NftnlGeneration.parse) ?? nil
            }
        }
    }

    /// The messages of one dump, each copied out; nil if the dump was interrupted by a change
    /// (unless `tolerateInterruption`: then what was read).
    static func dump(_ socket: NetlinkSocket, type: nf_tables_msg_types, family: Int32 = Int32(NFPROTO_INET),
                     tolerateInterruption: Bool = false, payload: ((UnsafeMutablePointer<nlmsghdr>) -> Void)? = nil) throws -> [[UInt8]]? {
        var request = [CChar](repeating: 0, count: 4096)
        let sequence = socket.nextSequence()
        let length = request.withUnsafeMutableBufferPointer { buffer -> Int in
            guard let base = buffer.baseAddress,
                  let header = nftnl_nlmsg_build_hdr(base, UInt16(type.rawValue), UInt16(family), UInt16(NLM_F_DUMP), sequence)
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
                    return interrupted && !tolerateInterruption ? nil : messages
                case NLMSG_ERROR:
                    let code = message.errorCode ?? EPROTO
                    if code == EINTR { return nil }
                    if code != 0 { throw HostError("the kernel refused a dump", errno: code).appending(Self.permissionHint(code)) }
                default:
                    messages.append(Array(message.bytes))
                }
            }
        }
    }

    /// A set as read: what it holds in the model's terms (nil for contents meshcap does not
    /// write), and for a named set each element's counter.
    struct SetReading {
        let contents: RuleDecoder.SetContents?
        /// In the order of the contents' elements.
        let counters: [Counter?]
    }

    /// Reading nf_tables rules takes CAP_NET_ADMIN as changing them does.
    static func permissionHint(_ code: Int32) -> String {
        code == EPERM ? " — reading the rules needs root (CAP_NET_ADMIN) too: run meshcap as root" : ""
    }

    /// What a set holds: ports (2-byte keys; an anonymous set's are `{ 53, 15008 }`, a named
    /// set's have counters) or prefixes (4- or 16-byte keys, an interval set); nil if the set
    /// vanished meanwhile.
    static func setElements(_ socket: NetlinkSocket, table: String, set name: String) throws -> SetReading? {
        let query = NftnlSetQuery(table: table, name: name)
        let messages: [[UInt8]]
        do {
            // A set the rule dump named can be gone by now (ENOENT): read everything again.
            guard let read = try dump(socket, type: NFT_MSG_GETSETELEM, payload: query.build) else { return nil }
            messages = read
        } catch let error as HostError where error.isNotFound {
            return nil
        }
        // Keys read into addresses or ports message by message: 10,000 prefixes are 20,000
        // elements, and verify and apply read them on every run.
        var addresses: [(address: IPAddress, intervalEnd: Bool)] = [], addressCounters: [Counter?] = []
        var ports: [(port: Port, counter: Counter?)] = []
        var foreign = false
        for message in messages {
            DumpedSetElement.forEach(in: message[...]) { element in
                switch element.key {
                case .address(let address)?:
                    addresses.append((address, element.intervalEnd))
                    addressCounters.append(element.counter)
                case .port(let port)?: ports.append((port, element.counter))
                case nil: foreign = true
                }
            }
        }
        if foreign { return SetReading(contents: nil, counters: []) }
        // One kind of key in a set.
        guard addresses.isEmpty || ports.isEmpty else { return SetReading(contents: nil, counters: []) }
        if let first = addresses.first?.address {
            guard let prefixes = NamedSetMessages.prefixes(addresses, family: first.family) else { return SetReading(contents: nil, counters: []) }
            return SetReading(contents: .named(.prefixes(PrefixSet(name: name, family: first.family, aggregated: prefixes.map(\.prefix)))),
                              counters: prefixes.map { addressCounters[$0.start] })
        }
        // nft names its anonymous sets "__set<N>"; a name of meshcap's is a named set.
        guard !name.hasPrefix("__set") else { return SetReading(contents: .ports(ports.map(\.port)), counters: []) }
        // In the order a port set keeps them: sorted.
        ports.sort { $0.port < $1.port }
        return SetReading(contents: .named(.ports(PortSet(name: name, ports: ports.map(\.port)))), counters: ports.map(\.counter))
    }

    /// Runs `body` on a copied-out message as a `struct nlmsghdr` pointer.
    static func withMessage<Result>(_ message: [UInt8], _ body: (UnsafePointer<nlmsghdr>) -> Result) -> Result? {
        message.withUnsafeBytes { bytes in
            bytes.baseAddress.map { body($0.assumingMemoryBound(to: nlmsghdr.self)) }
        }
    }
}
