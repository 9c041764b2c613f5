import IptablesBackend
import MeshCapture
import NftablesBackend

/// `verify --from`: a firewall dump an operator saved on a VM (pasted into a ticket, kept by CI),
/// its format told here and read by its backend's reader (`IptablesSaveDump`, `IptablesListing`,
/// `NftListing`, `NftJSON`) into the same `CounterReading` a live host gives, so `VerifyReport` of
/// the dump has the rows the live reading had. Strict: a line that is not what the tool prints, or
/// a dump cut short, is refused with its line number instead of being skipped. A line cut off where
/// the dump stops is never read as a rule: the tools end every line they print, so a last line with
/// no line end is refused unless it is whole by its own syntax (`COMMIT`, `}`, a comment; `nft
/// -j`'s JSON says itself whether it is whole).
public enum SavedDump {
    /// What printed the dump.
    public enum Format: String, Sendable, CaseIterable {
        /// `iptables-save -c`, `ip6tables-save -c` (either variant), or both concatenated.
        case iptablesSave = "iptables-save -c"
        /// `iptables -t TABLE -nvL` (with or without `-x` and `--line-numbers`), tables and both
        /// families concatenated.
        case iptablesListing = "iptables -nvL"
        /// `iptables -t TABLE -S -v`: iptables-save's rules with their counters inside them.
        case iptablesRules = "iptables -S -v"
        /// `nft list ruleset`, or `nft list table ...` of meshcap's tables.
        case nftListing = "nft list ruleset"
        /// `nft -j list ruleset`.
        case nftJSON = "nft -j list ruleset"

        /// Whether the rules are nft's own (meshcap's inet tables) rather than iptables'.
        public var isNftables: Bool { self == .nftListing || self == .nftJSON }

        /// The dialect the dump is written in: the config's rules are compared in its layouts.
        public var dialect: any Dialect { isNftables ? NftDialect() : IptablesDialect() }

        /// What an operator runs on the host for a dump of this format that meshcap reads whole.
        var command: String {
            switch self {
            case .iptablesSave: "iptables-save -c > rules.txt; ip6tables-save -c >> rules.txt"
            case .iptablesListing: "for t in nat mangle raw; do iptables -t $t -nvxL; ip6tables -t $t -nvxL; done > rules.txt"
            case .iptablesRules: "for t in nat mangle raw; do iptables -t $t -S -v; ip6tables -t $t -S -v; done > rules.txt"
            case .nftListing: "nft list ruleset > rules.txt"
            case .nftJSON: "nft -j list ruleset > rules.json"
            }
        }
    }

    /// For a dump whose first line names no format: the two dumps that hold every rule and count.
    static let anyCommand = "iptables-save -c > rules.txt (iptables) or nft list ruleset > rules.txt (nftables)"

    /// What `--from` accepts, for messages.
    static let formats = "the output of iptables-save -c, ip6tables-save -c, iptables -t nat|mangle|raw -nvL [-x], iptables -t nat|mangle|raw -S -v, nft list ruleset or nft -j list ruleset"

    /// Detects the format and reads it. `name` is what messages call the input (a path or "stdin").
    public static func read(_ text: String, name: String) throws(DumpError) -> CounterReading {
        let dump = DumpText(text, name: name)
        return try read(dump, as: format(of: dump))
    }

    /// Reads the dump as the given format, without detecting it.
    public static func read(_ text: String, as format: Format, name: String) throws(DumpError) -> CounterReading {
        try read(DumpText(text, name: name), as: format)
    }

    public static func format(of text: String, name: String) throws(DumpError) -> Format {
        try format(of: DumpText(text, name: name))
    }

    static func read(_ dump: DumpText, as format: Format) throws(DumpError) -> CounterReading {
        // The reading is called what printed the dump, and which input it is.
        let source = "\(format.rawValue) (\(dump.name))"
        do {
            try refuseCutLastLine(dump, as: format)
            return switch format {
            case .iptablesSave: try IptablesSaveDump.read(dump, source: source)
            case .iptablesListing: try IptablesListing.read(dump, source: source)
            case .iptablesRules: try IptablesRulesDump.read(dump, source: source)
            case .nftListing: try NftListing.read(dump, source: source)
            case .nftJSON: try NftJSON.read(dump, source: source)
            }
        } catch {
            throw error.read(as: format.rawValue, remedy: format.command)
        }
    }

    /// A last line without its line end is where a paste or a copy stopped, perhaps inside the
    /// line (`-A ISTIO_OUTP`, `[12:`, `redir ports 15001` cut to a `redir ports 1500` that still
    /// reads as a rule): refused unless nothing could be missing from it.
    static func refuseCutLastLine(_ dump: DumpText, as format: Format) throws(DumpError) {
        guard !dump.endsWithLineEnd, format != .nftJSON, let last = dump.lines.last?.withoutBlanks, !last.isEmpty, !last.hasPrefix("#") else { return }
        switch format {
        case .iptablesSave where last == "COMMIT", .nftListing where last == "}": return
        default:
            throw dump.error(dump.lines.count, "\(DumpText.quoted(last)) has no line end: the dump stops inside this line, which may be cut short (\(format.rawValue) ends every line it prints)",
                             allowed: "whole lines; if this one is whole, end the file with a line end")
        }
    }

    /// The first line that is neither blank nor a comment says which tool printed the dump: each
    /// begins its own way (`*nat`, `Chain PREROUTING`, `table inet`, `{`). iptables-save's
    /// "# Generated by" comment says it too, before any table.
    static func format(of dump: DumpText) throws(DumpError) -> Format {
        for (index, line) in dump.lines.enumerated() {
            let text = line.drop { $0 == " " || $0 == "\t" }
            if text.isEmpty { continue }
            if text.hasPrefix("#") {
                if text.hasPrefix("# Generated by ip") { return .iptablesSave }
                continue
            }
            if text.hasPrefix("{") { return .nftJSON }
            // A listing cut at the top may begin with its column line or a rule's counts.
            if text.hasPrefix("Chain ") || text.hasPrefix("pkts ") || text.hasPrefix("num ") || text.first?.isNumber == true { return .iptablesListing }
            if text.hasPrefix("table ") { return .nftListing }
            // iptables -S: chains as -P and -N, rules with their counters as -c inside them.
            if text.hasPrefix("-P ") || text.hasPrefix("-N ") || text.hasPrefix("-A ") && text.contains(" -c ") { return .iptablesRules }
            // A dump cut at the top still shows iptables-save's lines; its reader says what is missing.
            if ["*", ":", "[", "-A ", "COMMIT"].contains(where: { text.hasPrefix($0) }) { return .iptablesSave }
            throw dump.error(index + 1, "\(DumpText.quoted(text)) does not begin a dump meshcap reads", allowed: formats)
                .read(as: nil, remedy: anyCommand)
        }
        throw dump.error(max(dump.lines.count, 1), "the dump is empty (nothing but blank lines and comments)", allowed: formats)
            .read(as: nil, remedy: anyCommand)
    }
}
