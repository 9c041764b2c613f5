#if canImport(Glibc)
import Glibc
#endif
import IptablesBackend
import MeshCapture
import NftablesBackend

/// Where a variant's tools are on this host.
extension IptablesVariant {
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

/// The iptables host of one variant: reads from the kernel (or with `iptables-save -c`), changes with
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

    public var dialect: IptablesDialect {
        IptablesDialect(restoreTools: Dictionary(uniqueKeysWithValues: Family.allCases.map { ($0, variant.tool($0, "restore")) }))
    }

    public var choosingKeys: [(key: String, value: String)] { [("FORCE_IPTABLES_BINARY", variant.rawValue)] }

    /// The legacy variant's tables belong to the kernel's modules, not to a program: nothing to delete.
    public var keepsTablesItMakes: Bool { variant == .nft }
    public func deleteEmpty(_ tables: [MadeTable]) throws -> [MadeTable] {
        variant == .nft ? try MadeTables.deleteEmpty(tables) : []
    }

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
        // thread-self: the namespace of the thread asking (/proc/net is the process leader's).
        let path = family == .ipv4 ? "/proc/thread-self/net/ip_tables_names" : "/proc/thread-self/net/ip6_tables_names"
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

    /// Each family's nat, mangle and raw tables as `iptables-save -c` prints them: read from the
    /// kernel where every entry decodes exactly (`kernelReading`), else by the save tool, with why.
    public func read() throws -> IptablesDialect.Reading {
        var saves: IptablesDialect.Reading = [:]
        for family in Family.allCases {
            switch try kernelReading(family) {
            case .success(let save):
                saves[family] = save
            case .failure(let refused):
                saves[family] = IptablesSave.parse(try save(family), family: family)
                saves[family]?.savedBecause = refused.reason
            }
        }
        return saves
    }

    /// A family read with the save tool says so, and why: verify's numbers then come from its text.
    public func notes(_ reading: IptablesDialect.Reading) -> [String] {
        Family.allCases.compactMap { family in
            // The reason names the family first: "IPv4 nat OUTPUT: a rule with ...".
            reading[family]?.savedBecause.map { "read with \(variant.tool(family, "save")) -c, not from the kernel: \($0)" }
        }
    }

    /// A family's nat, mangle and raw tables read from the kernel (the legacy tables over
    /// getsockopt, iptables-nft's over netlink) as the save tool would print them; or the entry
    /// that does not decode exactly, if one does not.
    public func kernelReading(_ family: Family) throws -> Result<IptablesSave, UndecodableEntry> {
        let read: Result<IptablesSave, UndecodableEntry>
        switch variant {
        case .nft:
            read = try IptablesNftTables.read(family)
        case .legacy:
            var tables: [IptablesSave.Table] = []
            var refused: UndecodableEntry?
            for table in Self.legacyTables(family) where IptablesDialect.tables.contains(table) {
                // A table the kernel will not hand over (it kept changing) is the save tool's too.
                do throws(UndecodableEntry) {
                    let blob: LegacyTables.Blob
                    do { blob = try LegacyTables.read(table, family: family) } catch { throw UndecodableEntry(reason: "\(table): \(error.lines.joined(separator: "; "))") }
                    tables.append(try LegacyTables.table(table, blob))
                } catch {
                    refused = error
                    break
                }
            }
            read = refused.map { .failure($0) } ?? .success(IptablesSave(family: family, tables: tables))
        }
        return read.mapError { UndecodableEntry(reason: "\(family.label) \($0.reason)") }
    }

    /// Zeroes the counters of meshcap's rules (and Istio's) and of no one else's: each ISTIO
    /// chain whole, and in the built-in chains each of its rules by number, as read.
    public func resetCounters(_ reading: IptablesDialect.Reading) throws -> Int {
        var zeroed = 0, position: [String: Int] = [:], chainsDone = Set<String>()
        for observed in dialect.live(reading).rules {
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

    /// Each step is one table's transaction. Whatever stops a step (the tool refusing, or the
    /// tool or a snapshot failing to run at all), the tables already changed are put back.
    ///
    /// The undo restores each table as it was saved just before its step. A rule another program
    /// added to that table in the milliseconds between would be undone with it: iptables offers
    /// no generation to bind to, as nf_tables does for the nft backend.
    public func commit(_ changes: Changes<IptablesDialect.Steps>) throws {
        var done: [(family: Family, table: String, tool: String, snapshot: String)] = []
        for step in changes.steps {
            let tool = variant.tool(step.family, "restore")
            let place = "\(tool) (\(step.family.label) \(step.table))"
            var killed: (family: Family, table: String, tool: String, snapshot: String)?
            do {
                // The table as it is right now: what a failure further on puts back.
                let snapshot = try save(step.family, table: step.table)
                let result = try Command.run(tool, ["--noflush", "--counters", "--wait=\(wait)"], input: step.input)
                // A loader that a signal ended (systemd stopping the unit's whole group) may have
                // committed its table just before: it is put back with the others. One that
                // refused its input committed nothing (a restore is one transaction).
                if result.status > 128 { killed = (step.family, step.table, tool, snapshot) }
                guard result.status == 0 else { throw HostError("\(place) \(Self.failure(result))") }
                done.append((step.family, step.table, tool, snapshot))
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
        let tables = done.map { "\($0.family.label) \($0.table)" }.joined(separator: ", ")
        return failures.isEmpty
            ? ("; the tables already changed (\(tables)) were put back: the previous rules are in force", true)
            : ("; putting back \(tables) failed too (\(failures.joined(separator: "; "))): check `\(variant.tool(.ipv4, "save"))`", false)
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
