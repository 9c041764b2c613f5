import CMnl
import CNftnl
import Glibc
import IptablesBackend
import MeshCapture
import NftablesBackend

/// iptables-nft's nat, mangle and raw tables read over netlink, each rule printed as
/// iptables-nft-save (1.8) prints it and read back by the dump reader: the save tool cost every
/// verify a process that itself dumps the whole ruleset and translates it (`make bench`: 50 ms
/// at 10,000 rules).
///
/// iptables-nft writes the rule header (addresses, interfaces, protocol) and the port, mark and
/// limit matches as native expressions, a load and a comparison each, and every other match and
/// target as an xtables-compat expression holding the legacy structure (`XtablesExtensions`
/// prints those). The save tool prints the header in a fixed order, folds the native port
/// comparisons into one `-m tcp` (or `udp`) at the first one's place, and prints the counter
/// wherever it sits. A rule with anything else (a set lookup, ct, user data: nft's, not
/// iptables-nft's) is not guessed: the family is left to the save tool.
enum IptablesNftTables {
    /// The built-in chains the save tool prints for each table (all of them, whether the kernel
    /// has their base chains or not), in hook order, and the priority iptables-nft gives them.
    static let builtins: [String: [(hook: Hook, priority: Int32, type: String)]] = [
        "nat": [(.prerouting, -100, "nat"), (.input, 100, "nat"), (.output, -100, "nat"), (.postrouting, 100, "nat")],
        "mangle": Hook.allCases.map { ($0, -150, $0 == .output ? "route" : "filter") },
        "raw": [(.prerouting, -300, "filter"), (.output, -300, "filter")],
    ]
    /// The save tool's table order (iptables' own list of tables), for the three meshcap reads.
    static let tableOrder = ["mangle", "raw", "nat"]

    /// One family's tables, read in one generation of the ruleset.
    static func read(_ family: Family) throws -> Result<IptablesSave, UndecodableEntry> {
        let socket = try NetlinkConnection.socket()
        let number = Int32(family.nfproto)
        for _ in 0..<3 {
            guard let before = try RuleDump.generation(socket),
                  let tableMessages = try RuleDump.dump(socket, type: NFT_MSG_GETTABLE, family: number),
                  let chainMessages = try RuleDump.dump(socket, type: NFT_MSG_GETCHAIN, family: number),
                  let ruleMessages = try RuleDump.dump(socket, type: NFT_MSG_GETRULE, family: number),
                  try RuleDump.generation(socket) == before else { continue }
            // A message libnftnl cannot parse would be a rule (or chain) missing from the reading.
            let tables = tableMessages.map { RuleDump.withMessage($0, { NftnlTable(parsing: $0) }) ?? nil }
            let chains = chainMessages.map { RuleDump.withMessage($0, { NftnlChain(parsing: $0) }) ?? nil }
            let parsed = ruleMessages.map { RuleDump.withMessage($0, { NftnlRule(parsing: $0) }) ?? nil }
            guard !tables.contains(where: { $0 == nil }), !chains.contains(where: { $0 == nil }), !parsed.contains(where: { $0 == nil }) else {
                return .failure(UndecodableEntry(reason: "a netlink message libnftnl does not parse"))
            }
            var rules: [String: [(chain: String, expressions: [IptablesNftExpression], userData: Bool)]] = [:]
            for case let rule? in parsed where tableOrder.contains(rule.table) {
                rules[rule.table, default: []].append((rule.chain, rule.iptablesNftExpressions, rule.hasUserData))
            }
            let names = Set(tables.compactMap { $0?.name }), dumped = chains.compactMap { $0.map(RuleDump.dumpedChain) }
            do throws(UndecodableEntry) {
                let read = try tableOrder.filter(names.contains).map { name throws(UndecodableEntry) in
                    try table(name, chains: dumped.filter { $0.table == name }, rules: rules[name] ?? [], family: family)
                }
                return .success(IptablesSave(family: family, tables: read))
            } catch {
                return .failure(error)
            }
        }
        return .failure(UndecodableEntry(reason: "the ruleset kept changing while it was read"))
    }

    /// One table as the save tool prints it: every built-in chain in hook order (ACCEPT where the
    /// kernel has no base chain), then the user-defined chains by name.
    static func table(_ name: String, chains: [DumpedChain], rules: [(chain: String, expressions: [IptablesNftExpression], userData: Bool)],
                      family: Family) throws(UndecodableEntry) -> IptablesSave.Table {
        let builtins = builtins[name] ?? []
        var regular: [String] = []
        for chain in chains {
            guard let hook = chain.hook else { regular.append(chain.name); continue }
            // A base chain iptables-nft would not make: the save tool leaves it out with a note.
            guard let expected = builtins.first(where: { $0.hook == hook }), chain.name == hook.rawValue.uppercased(),
                  chain.priority == expected.priority, chain.type == expected.type else {
                throw UndecodableEntry(reason: "\(name) \(chain.name): a base chain iptables-nft does not make")
            }
        }
        var byChain: [String: [IptablesSave.SavedRule]] = [:]
        for rule in rules {
            guard !rule.userData else { throw UndecodableEntry(reason: "\(name) \(rule.chain): a rule with user data (an nft comment)") }
            let line = try self.line(rule.chain, rule.expressions, family: family, table: name)
            guard let saved = IptablesSave.savedRule(Substring(line.text), packets: line.packets, bytes: line.bytes, family: family) else {
                throw UndecodableEntry(reason: "\(name) \(rule.chain): `\(line.text)` does not read back")
            }
            byChain[rule.chain, default: []].append(saved.rule)
        }
        let policies = Dictionary(chains.map { ($0.name, $0.policy) }, uniquingKeysWith: { first, _ in first })
        var result = builtins.map { builtin -> IptablesSave.Chain in
            let chain = builtin.hook.rawValue.uppercased()
            let policy = (policies[chain] ?? nil) == UInt32(NF_DROP) ? "DROP" : "ACCEPT"
            return IptablesSave.Chain(name: chain, policy: policy, rules: byChain[chain] ?? [])
        }
        for chain in regular.sorted(by: { Array($0.utf8).lexicographicallyPrecedes($1.utf8) }) {
            result.append(IptablesSave.Chain(name: chain, policy: nil, rules: byChain[chain] ?? []))
        }
        return IptablesSave.Table(name: name, chains: result)
    }

    /// What a load puts in register 1 for the comparison after it.
    enum Load {
        case meta(UInt32)
        case payload(base: UInt32, offset: UInt32, length: UInt32)
    }

    /// One rule as iptables-nft-save prints it, with its counter.
    static func line(_ chain: String, _ expressions: [IptablesNftExpression], family: Family,
                     table: String) throws(UndecodableEntry) -> (text: String, packets: UInt64, bytes: UInt64) {
        func fail(_ why: String) -> UndecodableEntry { UndecodableEntry(reason: "\(table) \(chain): a rule with \(why)") }
        var source = "", destination = "", input = "", output = "", proto: (number: UInt8, inverted: Bool)?
        var pieces: [String] = [], target = "", counters: (packets: UInt64, bytes: UInt64)?
        // The native port comparisons, printed as one tcp or udp match at the first one's place.
        var ports: (index: Int, source: (UInt16, UInt16), destination: (UInt16, UInt16), inverted: (source: Bool, destination: Bool))?
        var load: Load?, mask: [UInt8]?
        let (sourceOffset, destinationOffset, width): (UInt32, UInt32, Int) = family == .ipv4 ? (12, 16, 4) : (8, 24, 16)

        func port(_ offset: UInt32, _ range: (UInt16, UInt16), inverted: Bool) throws(UndecodableEntry) {
            guard let proto, !proto.inverted, proto.number == 6 || proto.number == 17 else { throw fail("a port without -p tcp or -p udp") }
            if ports == nil {
                ports = (pieces.count, (0, 0xFFFF), (0, 0xFFFF), (false, false))
                pieces.append("")
            }
            if offset == 0 {
                guard let current = ports?.source, current == (0, 0xFFFF) else { throw fail("two source port tests") }
                ports?.source = range
                ports?.inverted.source = inverted
            } else {
                guard let current = ports?.destination, current == (0, 0xFFFF) else { throw fail("two destination port tests") }
                ports?.destination = range
                ports?.inverted.destination = inverted
            }
        }
        func word(_ bytes: [UInt8]) -> UInt16 { bytes.count == 2 ? UInt16(bytes[0]) << 8 | UInt16(bytes[1]) : 0 }

        for expression in expressions {
            switch expression {
            case .meta(let key):
                // `-o +` leaves a load no comparison reads; the save tool prints nothing for it.
                if case .meta(let pending)? = load, pending != Meta.inInterfaceName && pending != Meta.outInterfaceName { throw fail("a load nothing compares") }
                if case .payload? = load { throw fail("a load nothing compares") }
                (load, mask) = (.meta(key), nil)
            case .payload(let base, let offset, let length):
                // A lone interface load is `-o +` (above); any other load is compared at once.
                if case .payload? = load { throw fail("a load nothing compares") }
                (load, mask) = (.payload(base: base, offset: offset, length: length), nil)
            case .bitwise(let bits, let xor):
                guard load != nil, mask == nil, xor.allSatisfy({ $0 == 0 }) else { throw fail("a bitwise operation") }
                mask = bits
            case .cmp(let equal, let data):
                guard let loaded = load else { throw fail("a comparison of nothing loaded") }
                switch loaded {
                case .meta(let key) where key == Meta.inInterfaceName || key == Meta.outInterfaceName:
                    // One test per interface, and no NUL but the name's end (save prints up to the first).
                    guard mask == nil, !data.isEmpty, !data.dropLast().contains(0),
                          (key == Meta.inInterfaceName ? input : output).isEmpty else { throw fail("an interface test") }
                    let name: String, inverted: Bool
                    if equal && data == Array("INVAL/D".utf8) + [0] {
                        (name, inverted) = ("+", true)
                    } else if data.last == 0 {
                        (name, inverted) = (String(decoding: data.dropLast(), as: UTF8.self), !equal)
                    } else {
                        (name, inverted) = (String(decoding: data, as: UTF8.self) + "+", !equal)
                    }
                    let text = (inverted ? " !" : "") + (key == Meta.inInterfaceName ? " -i " : " -o ") + name
                    if key == Meta.inInterfaceName { input = text } else { output = text }
                case .meta(let key) where key == Meta.transportProtocol:
                    guard mask == nil, data.count == 1, proto == nil else { throw fail("a protocol test") }
                    proto = (data[0], !equal)
                case .meta(let key) where key == Meta.mark:
                    guard data.count == 4, mask.map({ $0.count == 4 }) ?? true else { throw fail("a mark test") }
                    // The mark is host order in the register.
                    let value = data.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
                    let bits = mask.map { $0.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } } ?? .max
                    pieces.append(" -m mark" + (equal ? "" : " !") + XtablesExtensions.mark(value, bits))
                case .payload(let base, let offset, let length) where base == Payload.networkHeader && (offset == sourceOffset || offset == destinationOffset):
                    // One test per address; a /0 is no test at all (the save tool prints none).
                    guard Int(length) <= width, data.count == Int(length), length > 0 || mask != nil,
                          (offset == sourceOffset ? source : destination).isEmpty else { throw fail("an address test") }
                    let address = data + [UInt8](repeating: 0, count: width - data.count)
                    let bits: [UInt8]
                    if let mask {
                        guard mask.count == width else { throw fail("an address mask") }
                        bits = mask
                    } else {
                        bits = [UInt8](repeating: 0xFF, count: data.count) + [UInt8](repeating: 0, count: width - data.count)
                    }
                    guard EntryHeader.prefixLength(bits) != 0,
                          let text = EntryHeader.address(offset == sourceOffset ? "-s" : "-d", address, mask: bits, !equal, family) else { throw fail("an address") }
                    if offset == sourceOffset { source = text } else { destination = text }
                case .payload(let base, let offset, let length) where base == Payload.transportHeader && mask == nil:
                    if offset == 0 && length == 4 && data.count == 4 && equal {
                        try port(0, (word(Array(data[0..<2])), word(Array(data[0..<2]))), inverted: false)
                        try port(2, (word(Array(data[2..<4])), word(Array(data[2..<4]))), inverted: false)
                    } else if (offset == 0 || offset == 2) && length == 2 && data.count == 2 {
                        try port(offset, (word(data), word(data)), inverted: !equal)
                    } else {
                        throw fail("a transport header test")
                    }
                default:
                    throw fail("a comparison iptables-nft does not write")
                }
                load = nil
                mask = nil
            case .range(let equal, let from, let to):
                guard case .payload(let base, let offset, let length)? = load, base == Payload.transportHeader, mask == nil,
                      offset == 0 || offset == 2, length == 2, from.count == 2, to.count == 2 else { throw fail("a range") }
                try port(offset, (word(from), word(to)), inverted: !equal)
                load = nil
            case .counter(let packets, let bytes):
                guard counters == nil else { throw fail("two counters") }
                counters = (packets, bytes)
            case .verdict(let code, let chain):
                guard target.isEmpty else { throw fail("two verdicts") }
                switch code {
                case Int32(NF_ACCEPT): target = " -j ACCEPT"
                case Int32(NF_DROP): target = " -j DROP"
                case NFT_RETURN.rawValue: target = " -j RETURN"
                case NFT_JUMP.rawValue where chain != nil: target = " -j \(chain ?? "")"
                case NFT_GOTO.rawValue where chain != nil: target = " -g \(chain ?? "")"
                default: throw fail("verdict \(code)")
                }
            case .limit(let rate, let unit, let burst):
                guard let said = XtablesExtensions.limit(rate: rate, unit: unit, burst: burst) else { throw fail("a limit") }
                pieces.append(said)
            case .nflog(let group, let prefix, let threshold):
                guard target.isEmpty, threshold == nil else { throw fail("an NFLOG target") }
                target = " -j NFLOG" + XtablesExtensions.nflog(prefix: prefix ?? "", group: group)
            case .match(let name, let revision, let info):
                guard revision <= UInt8.max, let said = info.withUnsafeBytes({ XtablesExtensions.match(name, revision: UInt8(revision), $0, family: family) }) else {
                    throw fail("match \(name) (revision \(revision))")
                }
                pieces.append(said)
            case .target(let name, let revision, let info):
                guard target.isEmpty, revision <= UInt8.max,
                      let said = info.withUnsafeBytes({ XtablesExtensions.target(name, revision: UInt8(revision), $0, family: family) }) else {
                    throw fail("target \(name) (revision \(revision))")
                }
                target = said
            case .other(let name):
                // iptables-nft-save 1.8.9 prints such a rule without its set lookup, silently.
                throw fail("a \(name) expression" + (name == "lookup" ? " (an nft rule in iptables-nft's table: the save tool prints it without its set lookup, so that rule's text here is not what the kernel runs)" : ""))
            }
        }
        if case .payload? = load { throw fail("a load nothing compares") }
        if let ports {
            guard let proto, let said = XtablesExtensions.ports(proto.number == 6 ? "tcp" : "udp", source: ports.source, destination: ports.destination,
                                                                  inverted: ports.inverted) else { throw fail("ports") }
            pieces[ports.index] = said
        }
        var header = source + destination + input + output
        if let proto {
            guard let name = EntryHeader.protocolName(UInt16(proto.number)) else { throw fail("protocol \(proto.number)") }
            header += (proto.inverted ? " !" : "") + " -p " + name
        }
        return ("-A \(chain)" + header + pieces.joined() + target, counters?.packets ?? 0, counters?.bytes ?? 0)
    }
}
