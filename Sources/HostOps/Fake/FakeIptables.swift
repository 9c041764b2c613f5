import IptablesBackend
import MeshCapture

/// An iptables host in memory: each family's tables as `iptables-save -c` would print them, and
/// the restore steps the dialect makes applied to them line by line with iptables-restore's
/// `--noflush` meaning (a declared regular chain is flushed, `-D` must find its rule, `-X` needs
/// an empty chain nothing jumps to, a table is one transaction). It stands in for the kernel in
/// the tests of everything above it and, kept in a directory (`Site.fake`), for a whole CLI run
/// without root. It is no judge of the rules' meaning: the kernel tests are.
public final class FakeIptables: FirewallHost, @unchecked Sendable {
    /// The tables in force, per family.
    public var state: [Family: IptablesSave]
    /// Where the state is kept between runs (`iptables-ipv4.save`, `iptables-ipv6.save`); nil: memory only.
    let directory: String?
    public let variant: IptablesVariant
    /// Every restore input committed, in order.
    public private(set) var commits: [String] = []
    /// A commit fails with this, before anything of it is made.
    public var refusal: (any Error)?
    /// How many commits report that the ruleset changed under them (as nft's generation check
    /// does) before one goes through: `HostSession` reads again and retries once.
    public var rulesetChanges = 0

    public init(variant: IptablesVariant = .nft, directory: String? = nil) throws {
        self.variant = variant
        self.directory = directory
        state = [:]
        if let directory {
            for family in Family.allCases {
                guard let text = try? InputFile.read(Self.path(directory, family), role: "fake host state", strictText: false) else { continue }
                state[family] = IptablesSave.parse(text.textWithLF, family: family)
            }
        }
    }

    static func path(_ directory: String, _ family: Family) -> String { "\(directory)/iptables-\(family.rawValue).save" }

    public var name: String { "iptables-\(variant.rawValue)" }
    public var dialect: IptablesDialect {
        IptablesDialect(restoreTools: [.ipv4: "iptables-\(variant.rawValue)-restore", .ipv6: "ip6tables-\(variant.rawValue)-restore"])
    }
    public var choosingKeys: [(key: String, value: String)] { [("FORCE_IPTABLES_BINARY", variant.rawValue)] }
    public var keepsTablesItMakes: Bool { false }
    public func deleteEmpty(_ tables: [MadeTable]) throws -> [MadeTable] { [] }

    public func read() throws -> IptablesDialect.Reading {
        var reading: IptablesDialect.Reading = [:]
        for family in Family.allCases { reading[family] = state[family] ?? IptablesSave(family: family, tables: []) }
        return reading
    }

    public func commit(_ changes: Changes<IptablesDialect.Steps>) throws {
        if rulesetChanges > 0 {
            rulesetChanges -= 1
            throw RulesetChanged()
        }
        if let refusal { throw refusal }
        // All of it or none, as a refusal here is a refusal of the whole commit.
        var next = state, inputs: [String] = []
        for step in changes.steps {
            var save = next[step.family] ?? IptablesSave(family: step.family, tables: [])
            try Self.restore(step.input, into: &save)
            next[step.family] = save
            inputs.append(step.input)
        }
        state = next
        commits += inputs
        try persist()
    }

    public func resetCounters(_ reading: IptablesDialect.Reading) throws -> Int {
        var zeroed = 0
        for (family, save) in state {
            var save = save
            for t in save.tables.indices {
                for c in save.tables[t].chains.indices {
                    let chain = save.tables[t].chains[c]
                    let meshcapChain = ChainName.istioChains.contains(.regular(chain.name))
                    let istio = IptablesTransition.istios(in: chain.rules, table: save.tables[t].name, chain: chain.name)
                    save.tables[t].chains[c].rules = chain.rules.map { rule in
                        let owned = meshcapChain || rule.tagged
                            || IptablesTransition.isOwned(rule, table: save.tables[t].name, chain: chain.name, known: [], istio: istio)
                        guard owned else { return rule }
                        zeroed += 1
                        return IptablesSave.SavedRule(text: rule.text, rule: rule.rule, tagged: rule.tagged, packets: 0, bytes: 0)
                    }
                }
            }
            state[family] = save
        }
        try persist()
        return zeroed
    }

    /// Adds packets to the rules whose text contains `fragment`, as traffic would (for tests).
    public func count(_ packets: UInt64, bytes: UInt64, where fragment: String) throws {
        for (family, save) in state {
            var save = save
            for t in save.tables.indices {
                for c in save.tables[t].chains.indices {
                    save.tables[t].chains[c].rules = save.tables[t].chains[c].rules.map { rule in
                        guard rule.text.contains(fragment) else { return rule }
                        return IptablesSave.SavedRule(text: rule.text, rule: rule.rule, tagged: rule.tagged,
                                                      packets: rule.packets + packets, bytes: rule.bytes + bytes)
                    }
                }
            }
            state[family] = save
        }
        try persist()
    }

    func persist() throws {
        guard let directory else { return }
        if let code = TextFile.makeDirectories(directory) { throw HostError("cannot create \(directory)", errno: code) }
        for family in Family.allCases {
            try TextFile.replace(Self.path(directory, family), with: (state[family]).map(Self.text) ?? "")
        }
    }

    /// The tables as `iptables-save -c` prints them.
    public static func text(_ save: IptablesSave) -> String {
        var lines: [String] = []
        for table in save.tables {
            lines.append("*\(table.name)")
            lines += table.chains.map { ":\($0.name) \($0.policy ?? "-") [0:0]" }
            for chain in table.chains { lines += chain.rules.map { "[\($0.packets):\($0.bytes)] \($0.text)" } }
            lines.append("COMMIT")
        }
        return lines.map { $0 + "\n" }.joined()
    }

    /// The built-in chains each table has from the start.
    static let builtins = ["nat": ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
                           "mangle": ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
                           "raw": ["PREROUTING", "OUTPUT"]]

    /// The targets that are not chains.
    static let targets: Set<String> = ["ACCEPT", "DROP", "RETURN", "REJECT", "REDIRECT", "TPROXY", "DNAT", "SNAT", "MASQUERADE",
                                       "MARK", "CONNMARK", "CT", "LOG", "NFLOG", "TRACE", "CHECKSUM"]

    /// One restore input applied as `iptables-restore --noflush --counters` would: each table
    /// whole at its COMMIT, or not at all.
    static func restore(_ input: String, into save: inout IptablesSave) throws {
        var table: IptablesSave.Table?
        func fail(_ number: Int, _ why: String) -> HostError { HostError("iptables-restore: line \(number) failed: \(why)") }
        for (offset, raw) in input.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            var line = Substring(raw)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            if line.hasPrefix("*") {
                let name = String(line.dropFirst())
                table = save.table(name) ?? IptablesSave.Table(name: name, chains: (builtins[name] ?? []).map { .init(name: $0, policy: "ACCEPT", rules: []) })
                continue
            }
            guard var current = table else { throw fail(number, "no table") }
            defer { table = current }
            if line == "COMMIT" {
                if let at = save.tables.firstIndex(where: { $0.name == current.name }) { save.tables[at] = current } else { save.tables.append(current) }
                table = nil
                return try finishCommit(after: number, of: input, into: &save)
            }
            var packets: UInt64 = 0, bytes: UInt64 = 0
            if line.hasPrefix("["), let close = line.firstIndex(of: "]") {
                let counts = line[line.index(after: line.startIndex)..<close].split(separator: ":")
                packets = counts.first.flatMap { UInt64($0) } ?? 0
                bytes = counts.count > 1 ? UInt64(counts[1]) ?? 0 : 0
                line = line[line.index(after: close)...].drop { $0 == " " }
            }
            let words = IptablesParser.words(line)
            if line.hasPrefix(":") {
                let name = String(words[0].dropFirst()), policy = words.count > 1 && words[1] != "-" ? words[1] : nil
                if let at = current.chains.firstIndex(where: { $0.name == name }) {
                    // A regular chain declared again is flushed; a built-in one takes the policy.
                    current.chains[at] = .init(name: name, policy: policy ?? current.chains[at].policy, rules: policy == nil ? [] : current.chains[at].rules)
                } else {
                    guard policy == nil else { throw fail(number, "\(name) is not a built-in chain of \(current.name)") }
                    current.chains.append(.init(name: name, policy: nil, rules: []))
                }
                continue
            }
            guard words.count >= 2, let at = current.chains.firstIndex(where: { $0.name == words[1] }) else {
                throw fail(number, "no chain \(words.count > 1 ? words[1] : "") in \(current.name)")
            }
            let chain = words[1]
            switch words[0] {
            case "-A", "-I":
                var rest = Array(words.dropFirst(2)), position: Int?
                if words[0] == "-I", let first = rest.first, let index = Int(first) { position = index - 1; rest.removeFirst() }
                if let jump = rest.firstIndex(of: "-j"), jump + 1 < rest.count, !targets.contains(rest[jump + 1]),
                   !current.chains.contains(where: { $0.name == rest[jump + 1] }) {
                    throw fail(number, "jump to a chain that does not exist (\(rest[jump + 1]))")
                }
                let text = IptablesRenderer.text(["-A", chain] + rest)
                let parsed = IptablesParser.rule(rest, family: save.family)
                let rule = IptablesSave.SavedRule(text: text, rule: parsed?.rule, tagged: parsed?.tagged ?? false, packets: packets, bytes: bytes)
                let index = position ?? current.chains[at].rules.count
                guard index >= 0, index <= current.chains[at].rules.count else { throw fail(number, "index of insertion too big") }
                current.chains[at].rules.insert(rule, at: index)
            case "-D":
                let text = IptablesRenderer.text(["-A", chain] + words.dropFirst(2))
                guard let found = current.chains[at].rules.firstIndex(where: { $0.text == text }) else {
                    throw fail(number, "Bad rule (does a matching rule exist in that chain?)")
                }
                current.chains[at].rules.remove(at: found)
            case "-F":
                current.chains[at].rules = []
            case "-X":
                guard current.chains[at].policy == nil else { throw fail(number, "cannot delete the built-in chain \(chain)") }
                guard current.chains[at].rules.isEmpty else { throw fail(number, "Directory not empty (\(chain) holds rules)") }
                let jumps = current.chains.contains { $0.rules.contains { IptablesParser.words(Substring($0.text)).contains(chain) } }
                guard !jumps else { throw fail(number, "Too many links (a rule jumps to \(chain))") }
                current.chains.remove(at: at)
            default:
                throw fail(number, "unknown command \(words[0])")
            }
        }
        guard table == nil else { throw HostError("iptables-restore: COMMIT expected at the end of the input") }
    }

    /// The tables after a COMMIT: the rest of the input, if any, as another transaction.
    private static func finishCommit(after line: Int, of input: String, into save: inout IptablesSave) throws {
        let rest = input.split(separator: "\n", omittingEmptySubsequences: false).dropFirst(line).joined(separator: "\n")
        if !rest.isEmpty { try restore(rest, into: &save) }
    }
}
