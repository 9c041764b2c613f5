#if canImport(Glibc)
import Glibc
#endif
import IptablesBackend
import MeshCapture
import NftablesBackend

/// The two iptables implementations a host may use: `iptables-nft` (rules in nf_tables tables
/// `ip nat` ...) and `iptables-legacy` (the x_tables kernel tables). Both can hold rules at once,
/// and both are run by the kernel: capture "does nothing" when Istio's chains sit in the one the
/// operator does not look at.
public enum IptablesVariant: String, Sendable, CaseIterable {
    case nft
    case legacy

    /// The command for a family (`iptables-nft`, `ip6tables-legacy`). iptables before 1.8 has
    /// only the legacy tables and names its commands without the variant.
    public func command(_ family: Family) -> String {
        let base = family == .ipv4 ? "iptables" : "ip6tables"
        let named = "\(base)-\(rawValue)"
        if self == .legacy, Command.locate(named) == nil, Command.locate(base) != nil, Self.system() == .legacy { return base }
        return named
    }

    /// The tool for a family and verb (`save`, `restore`): `iptables-nft-save`.
    public func tool(_ family: Family, _ verb: String) -> String { "\(command(family))-\(verb)" }

    /// Whether this variant's tools are on the host at all.
    public var isInstalled: Bool { Command.locate(tool(.ipv4, "save")) != nil }

    /// The variant the host's `iptables` command is (its --version says "(nf_tables)" or
    /// "(legacy)"; before 1.8 it says neither and is legacy), nil without iptables.
    public static func system() -> IptablesVariant? {
        guard let result = try? Command.run("iptables", ["--version"]), result.status == 0 else { return nil }
        return result.stdout.contains("(nf_tables)") ? .nft : .legacy
    }
}

/// The iptables host of one variant: reads with `iptables-save -c`, changes with
/// `iptables-restore --noflush --wait`, one transaction per table and family, undone table by
/// table from a snapshot when a later one fails.
///
/// Why the restore tools and not libiptc for the legacy variant: they are what every VM already
/// runs, they take the xtables lock the way every other iptables user does, and their input is
/// the same text for both variants, which `--dry-run` prints as it is.
public struct IptablesHost: FirewallHost {
    public let variant: IptablesVariant
    /// How long to wait for the xtables lock another iptables user holds.
    public let wait: Int

    public init(variant: IptablesVariant, wait: Int) {
        self.variant = variant
        self.wait = wait
    }

    public var name: String { "iptables-\(variant.rawValue)" }

    public var choosingKeys: [(key: String, value: String)] { [("FORCE_IPTABLES_BINARY", variant.rawValue)] }

    /// The legacy variant's tables belong to the kernel's modules, not to a program: nothing to delete.
    public func deleteEmpty(_ tables: [MadeTable]) throws -> [MadeTable] {
        variant == .nft ? try MadeTables.deleteEmpty(tables) : []
    }

    static let tables = ["nat", "mangle", "raw"]

    /// Whether nf_tables holds a table of the family (named `table`, if given) with a chain:
    /// every table iptables-nft makes has its built-in chains. One netlink dump; when it cannot
    /// be read, the save tool is asked as before.
    static func nftablesHold(_ family: Family, table: String?) -> Bool {
        guard let chains = try? RuleDump.allChains() else { return true }
        return chains.contains { $0.family == family.nfproto && (table == nil || $0.table == table) }
    }

    /// Whether the legacy x_tables of a family hold any table. Asking the legacy tools about a
    /// table that does not exist creates it (and makes iptables-nft warn about legacy tables
    /// forever after), so the list the kernel keeps is read first; reading it creates nothing.
    static func legacyTables(_ family: Family) -> [String] {
        let path = family == .ipv4 ? "/proc/net/ip_tables_names" : "/proc/net/ip6_tables_names"
        guard let text = try? InputFile.read(path, role: "kernel table list", strictText: false) else { return [] }
        return text.lines.filter { !$0.isEmpty }
    }

    func save(_ family: Family, table: String? = nil) throws(HostError) -> String {
        if variant == .legacy {
            let present = Self.legacyTables(family)
            if let table, !present.contains(table) { return "" }
            if present.isEmpty { return "" }
        } else if !Self.nftablesHold(family, table: table) {
            // Nothing for the save tool to print: on an IPv4-only host, ip6tables-nft-save was a
            // process (1 ms of CPU, 2 ms of wall time) on every apply, diff and verify for nothing.
            return ""
        }
        let result = try Command.run(variant.tool(family, "save"), ["-c"] + (table.map { ["-t", $0] } ?? []))
        guard result.status == 0 else {
            throw HostError("\(variant.tool(family, "save")) \(Self.failure(result))")
        }
        return result.stdout
    }

    public func observe() throws -> LiveRules {
        var saves: [Family: IptablesSave] = [:]
        var rules: [ObservedRule] = [], ahead: [Ahead] = []
        for family in Family.allCases {
            let saved = IptablesSave.parse(try save(family), family: family)
            saves[family] = saved
            let classified = Self.classify(saved)
            rules += classified.rules
            ahead += classified.ahead
        }
        return LiveRules(rules: rules, ahead: ahead, reading: .iptables(saves))
    }

    /// One family's tables as iptables-save prints them, sorted into meshcap's, Istio's and
    /// other software's rules (in nat, mangle and raw), and the foreign rules ahead of meshcap's:
    /// the same for a live host and a saved `iptables-save -c`.
    public static func classify(_ save: IptablesSave) -> (rules: [ObservedRule], ahead: [Ahead]) {
        var rules: [ObservedRule] = [], ahead: [Ahead] = []
        let tool = save.family == .ipv4 ? "iptables" : "ip6tables"
        for table in save.tables where tables.contains(table.name) {
            for chain in table.chains {
                let meshcapChain = ChainName.istioChains.contains(.regular(chain.name))
                guard meshcapChain || chain.policy != nil else { continue }
                var seenMeshcap = false
                var before: [Ahead] = []
                for saved in chain.rules {
                    let owner: ObservedRule.Owner = meshcapChain || saved.tagged ? .meshcap
                        : IptablesTransition.isOwned(saved, table: table.name, chain: chain.name, known: []) ? .istio : .other
                    if owner == .other && !seenMeshcap, let (why, ends) = decisive(saved) {
                        // A jump's counter says how many packets it passed on, not how many its chain kept.
                        before.append(Ahead(sentence: "\(tool) \(table.name) \(chain.name): `\(saved.text)` (\(why)) runs before meshcap's rules",
                                            packets: ends ? saved.packets : nil))
                    }
                    if owner != .other { seenMeshcap = true }
                    rules.append(ObservedRule(family: save.family, table: table.name, chain: chain.name, tableKind: TableKind(rawValue: table.name),
                                              chainName: chainName(chain.name), owner: owner, rule: owner == .other ? nil : saved.rule,
                                              rendering: .text(saved.text), packets: saved.packets, bytes: saved.bytes))
                }
                // What comes before meshcap's first rule in a built-in chain decides first.
                if seenMeshcap && !meshcapChain { ahead += before }
            }
        }
        return (rules, ahead)
    }

    /// Zeroes the counters of meshcap's rules (and Istio's) and of no one else's: each ISTIO
    /// chain whole, and in the built-in chains each of its rules by number, as read.
    public func resetCounters(_ live: LiveRules) throws -> Int {
        var zeroed = 0, position: [String: Int] = [:], chainsDone = Set<String>()
        for observed in live.rules {
            guard let family = observed.family else { continue }
            let place = "\(family) \(observed.table) \(observed.chain)"
            position[place, default: 0] += 1
            guard observed.owner != .other else { continue }
            var arguments = ["-w", String(wait), "-t", observed.table, "-Z", observed.chain]
            if ChainName.istioChains.contains(observed.chainName) {
                zeroed += 1
                guard chainsDone.insert(place).inserted else { continue }
            } else {
                zeroed += 1
                arguments.append(String(position[place] ?? 0))
            }
            let result = try Command.run(variant.command(family), arguments)
            guard result.status == 0 else {
                throw HostError("\(variant.command(family)) \(arguments.joined(separator: " ")) \(Self.failure(result))")
            }
        }
        return zeroed
    }

    /// Why a foreign rule ahead of meshcap's may take a packet before meshcap sees it, and
    /// whether the rule itself ends the packet's way (a jump may or may not); nil if it cannot
    /// (a counter, a LOG, a MARK).
    static func decisive(_ rule: IptablesSave.SavedRule) -> (why: String, ends: Bool)? {
        let words = IptablesParser.words(Substring(rule.text))
        guard let jump = words.firstIndex(of: "-j"), jump + 1 < words.count else { return nil }
        let target = words[jump + 1]
        let terminal = ["ACCEPT", "DROP", "REJECT", "RETURN", "DNAT", "REDIRECT", "SNAT", "MASQUERADE", "TPROXY"]
        let passes = ["LOG", "MARK", "CONNMARK", "CT", "NFLOG", "TRACE", "CHECKSUM"]
        if terminal.contains(target) { return ("it ends with \(target)", true) }
        if passes.contains(target) { return nil }
        return ("it jumps to \(target)", false)
    }

    public func changes(to desired: DesiredState, from live: LiveRules) throws -> Changes {
        try transitions(from: live, resolve: desired.resolve) { family in desired.ruleset(.xtables(family)) }
    }

    public func removal(from live: LiveRules, recognising config: DesiredState?) throws -> Changes {
        let numeric: OwnerResolver = { _, _ in nil }
        let resolve: OwnerResolver = config.map { $0.resolve } ?? numeric
        return try transitions(from: live, resolve: resolve, recognising: config, desired: { _ in nil })
    }

    func transitions(from live: LiveRules, resolve: @escaping OwnerResolver, recognising config: DesiredState? = nil,
                     desired: (Family) -> Ruleset?) throws -> Changes {
        guard case .iptables(let saves) = live.reading else { preconditionFailure("an iptables host reads iptables") }
        // Make before break: tables that take up capture first, tables that give it up last, so
        // that between two steps (and after a kill between them) what was captured still is:
        // REDIRECT to TPROXY adds mangle's TPROXY before nat stops redirecting inbound, and back.
        var steps: [(order: Int, step: (family: Family, table: String, tool: String, input: String))] = []
        var making: [MadeTable] = []
        for family in Family.allCases {
            let ruleset = desired(family)
            var known = Set<IptablesTransition.KnownRule>()
            for source in [ruleset, config?.ruleset(.xtables(family))].compactMap({ $0 }) {
                known.formUnion(IptablesTransition.builtinRules(source, resolve: resolve))
            }
            for name in Self.tables {
                let live = saves[family]?.table(name)
                let wanted = ruleset?.table(TableKind(rawValue: name) ?? .nat)
                guard let input = IptablesTransition.input(live: live, desired: wanted, family: family, known: known, resolve: resolve) else { continue }
                let holdsMeshcap = live?.chains.contains { ChainName.istioChains.contains(.regular($0.name)) } ?? false
                let order = !holdsMeshcap ? 0 : wanted == nil ? 2 : 1
                steps.append((order, (family, name, variant.tool(family, "restore"), input)))
                if variant == .nft, live == nil { making.append(MadeTable(family: family, name: name)) }
            }
        }
        let ordered = steps.enumerated().sorted { ($0.element.order, $0.offset) < ($1.element.order, $1.offset) }.map(\.element.step)
        let summary = ordered.map { step -> String in
            let lines = step.input.split(separator: "\n")
            let added = lines.filter { $0.hasPrefix("-A ") || $0.hasPrefix("-I ") }.count
            let removed = lines.filter { $0.hasPrefix("-D ") }.count
            let deleted = lines.filter { $0.hasPrefix("-X ") }.count
            let parts = [(added, "rule", " written"), (removed, "rule", " removed from built-in chains"), (deleted, "chain", " deleted")]
                .filter { $0.0 > 0 }.map { "\($0.0) \($0.1)\($0.0 == 1 ? "" : "s")\($0.2)" }
            return "\(step.family == .ipv4 ? "IPv4" : "IPv6") \(step.table): \(parts.isEmpty ? "chains declared" : parts.joined(separator: ", "))"
        }
        return Changes(summary: summary, steps: .iptables(ordered), making: making)
    }

    /// Each step is one table's transaction. Whatever stops a step (the tool refusing, or the
    /// tool or a snapshot failing to run at all), the tables already changed are put back.
    ///
    /// The undo restores each table as it was saved just before its step. A rule another program
    /// added to that table in the milliseconds between would be undone with it: iptables offers
    /// no generation to bind to, as nf_tables does for the nft backend.
    public func commit(_ changes: Changes) throws {
        guard case .iptables(let steps) = changes.steps else { preconditionFailure("an iptables host commits restore input") }
        var done: [(family: Family, table: String, tool: String, snapshot: String)] = []
        for step in steps {
            let place = "\(step.tool) (\(step.family == .ipv4 ? "IPv4" : "IPv6") \(step.table))"
            var killed: (family: Family, table: String, tool: String, snapshot: String)?
            do {
                // The table as it is right now: what a failure further on puts back.
                let snapshot = try save(step.family, table: step.table)
                let result = try Command.run(step.tool, ["--noflush", "--counters", "--wait=\(wait)"], input: step.input)
                // A loader that a signal ended (systemd stopping the unit's whole group) may have
                // committed its table just before: it is put back with the others. One that
                // refused its input committed nothing (a restore is one transaction).
                if result.status > 128 { killed = (step.family, step.table, step.tool, snapshot) }
                guard result.status == 0 else { throw HostError("\(place) \(Self.failure(result))") }
                done.append((step.family, step.table, step.tool, snapshot))
            } catch let error as HostError {
                let (said, putBack) = rollBack(done + (killed.map { [$0] } ?? []))
                if !putBack { throw PartlyApplied(error.appending(said)) }
                throw error.appending(said)
            }
        }
    }

    /// Puts back the tables already changed, newest first; says what is in force, and whether
    /// it is what was before.
    func rollBack(_ done: [(family: Family, table: String, tool: String, snapshot: String)]) -> (said: String, putBack: Bool) {
        guard !done.isEmpty else { return ("; nothing was changed", true) }
        var failures: [String] = []
        for step in done.reversed() {
            // A table that did not exist is put back empty: no rules, default policies.
            let snapshot = step.snapshot.isEmpty ? "*\(step.table)\nCOMMIT\n" : step.snapshot
            let result = try? Command.run(step.tool, ["--counters", "--wait=\(wait)"], input: snapshot)
            if result?.status != 0 { failures.append("\(step.family) \(step.table): \(result.map(Self.failure) ?? "could not run")") }
        }
        let tables = done.map { "\($0.family == .ipv4 ? "IPv4" : "IPv6") \($0.table)" }.joined(separator: ", ")
        return failures.isEmpty
            ? ("; the tables already changed (\(tables)) were put back: the previous rules are in force", true)
            : ("; putting back \(tables) failed too (\(failures.joined(separator: "; "))): check `\(variant.tool(.ipv4, "save"))`", false)
    }

    public func view(of live: LiveRules) -> String {
        guard case .iptables(let saves) = live.reading else { return "" }
        var lines: [String] = []
        for family in Family.allCases {
            guard let saved = saves[family] else { continue }
            for table in saved.tables.sorted(by: { $0.name < $1.name }) where Self.tables.contains(table.name) {
                var tableLines: [String] = []
                for chain in table.chains {
                    let meshcapChain = ChainName.istioChains.contains(.regular(chain.name))
                    if meshcapChain { tableLines.append(":\(chain.name)") }
                    // meshcap's chains whole; in the built-in chains, meshcap's rules (and Istio's jumps).
                    for rule in chain.rules where meshcapChain || (chain.policy != nil && IptablesTransition.isOwned(rule, table: table.name, chain: chain.name, known: [])) {
                        tableLines.append(rule.rule.map { IptablesRenderer.appendLine(Self.chainName(chain.name), $0, family: family, tagged: rule.tagged) } ?? rule.text)
                    }
                }
                if !tableLines.isEmpty { lines += ["*\(table.name) (\(family == .ipv4 ? "IPv4" : "IPv6"))"] + tableLines }
            }
        }
        return lines.joined(separator: "\n")
    }

    public func view(of desired: DesiredState) -> String {
        var lines: [String] = []
        for family in Family.allCases {
            guard let ruleset = desired.ruleset(.xtables(family)) else { continue }
            // In iptables-save's order: tables by name, built-in chains first, then meshcap's by name.
            for table in ruleset.tables.sorted(by: { $0.kind.rawValue < $1.kind.rawValue }) {
                lines.append("*\(table.kind.rawValue) (\(family == .ipv4 ? "IPv4" : "IPv6"))")
                let builtins = Hook.allCases.compactMap { hook in table.chain(.builtin(hook)) }
                let regulars = table.chains.filter { if case .regular = $0.name { true } else { false } }.sorted { $0.name.description < $1.name.description }
                for chain in builtins + regulars {
                    let builtin = builtins.contains(chain)
                    if !builtin { lines.append(":\(chain.name)") }
                    lines += chain.rules.map { IptablesRenderer.appendLine(chain.name, IptablesRenderer.canonical($0, resolve: desired.resolve), family: family, tagged: builtin) }
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    static func chainName(_ name: String) -> ChainName {
        Hook(rawValue: name.lowercased()).map { .builtin($0) } ?? .regular(name)
    }

    /// "failed (exit 1): its message", "was killed by signal 9 (SIGKILL)": how a loader ended.
    static func failure(_ result: CommandResult) -> String {
        if result.status > 128 {
            let signal = result.status - 128
            let name = [SIGKILL: " (SIGKILL)", SIGTERM: " (SIGTERM)", SIGINT: " (SIGINT)", SIGHUP: " (SIGHUP)"][signal] ?? ""
            return "was killed by signal \(signal)\(name)"
        }
        let said = result.stderr.trimmed
        return "failed (exit \(result.status))" + (said.isEmpty ? "" : ": \(said)") + permissionHint(result)
    }

    static func permissionHint(_ result: CommandResult) -> String {
        result.stderr.contains("Permission denied") || result.stderr.contains("you must be root")
            ? " — iptables needs root (CAP_NET_ADMIN), to read rules as well as to change them: run meshcap as root" : ""
    }
}

extension String {
    /// A tool's message on one line: blanks around it dropped, line breaks made "; ".
    public var trimmed: String {
        String(self.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed()).replacingOccurrences(of: "\n", with: "; ")
    }

    func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = "", rest = Substring(self)
        while let range = rest.range(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}

extension Substring {
    func range(of target: String) -> Range<Index>? {
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(target) { return index..<self.index(index, offsetBy: target.count) }
            index = self.index(after: index)
        }
        return nil
    }
}
