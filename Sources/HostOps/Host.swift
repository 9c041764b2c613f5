import IptablesBackend
import MeshCapture
import NftablesBackend

/// What meshcap programs on a host for one config: the rulesets of the backend's layouts (an nft
/// `inet` one, or an iptables one per family) and the routing they need.
public struct DesiredState: Sendable {
    public let rulesets: [Ruleset]
    public let routing: [RoutingEntry]
    /// Owner names as the host's loaders resolve them (the kernel keeps numbers).
    public let resolve: OwnerResolver

    /// The config sends nothing to the proxy (`InterceptConfig.capturesNothing`): verify says so.
    public let capturesNothing: Bool

    public init(rulesets: [Ruleset], routing: [RoutingEntry], resolve: @escaping OwnerResolver, capturesNothing: Bool = false) {
        self.rulesets = rulesets
        self.routing = routing
        self.resolve = resolve
        self.capturesNothing = capturesNothing
    }

    public func ruleset(_ layout: Layout) -> Ruleset? { rulesets.first { $0.layout == layout } }
}

/// A rule as read from the host, the same shape for every backend: where it is, whose it is, what
/// it means in the model when it is meshcap's, and its counters. `diff` compares these with the
/// plan; `verify` and `explain` read them too.
public struct ObservedRule: Sendable, Hashable {
    public enum Owner: Sendable, Hashable {
        /// Written by meshcap (in its own chain or table, or with its comment).
        case meshcap
        /// Istio's form of one of meshcap's rules, without the comment: a jump from a built-in chain
        /// into an ISTIO chain, left by istio-iptables.
        case istio
        /// Somebody else's.
        case other
    }

    /// The iptables family; nil for nft (`inet` holds both).
    public let family: Family?
    /// The table as the backend names it (`nat`, `istio-proxy-nat`).
    public let table: String
    /// The chain as the backend names it.
    public let chain: String
    /// The same two in the model's terms: which of its tables (nil for another program's table),
    /// and the chain (a hook's built-in chain, or a regular one by Istio's name).
    public let tableKind: TableKind?
    public let chainName: ChainName
    public let owner: Owner
    /// The model's rule when meshcap wrote it (canonical form), else nil.
    public let rule: Rule?
    let rendering: Rendering
    public let packets: UInt64
    public let bytes: UInt64
    /// For a rule that looks up a named set: each element's counter (the rows `verify` shows for
    /// it). Each lookup that matches counts on its element, whichever rule made it (TPROXY's two
    /// rules share the inbound set).
    public let elements: [ElementCount]

    /// A rule read from somewhere else than a live host (a saved dump), with its text as read.
    public init(family: Family?, table: String, chain: String, tableKind: TableKind?, chainName: ChainName,
                owner: Owner, rule: Rule?, text: String, packets: UInt64, bytes: UInt64, elements: [ElementCount] = []) {
        self.init(family: family, table: table, chain: chain, tableKind: tableKind, chainName: chainName, owner: owner,
                  rule: rule, rendering: .text(text), packets: packets, bytes: bytes, elements: elements)
    }

    init(family: Family?, table: String, chain: String, tableKind: TableKind?, chainName: ChainName,
         owner: Owner, rule: Rule?, rendering: Rendering, packets: UInt64, bytes: UInt64, elements: [ElementCount] = []) {
        self.elements = elements
        self.family = family
        self.table = table
        self.chain = chain
        self.tableKind = tableKind
        self.chainName = chainName
        self.owner = owner
        self.rule = rule
        self.rendering = rendering
        self.packets = packets
        self.bytes = bytes
    }

    /// How the text is had: as read (iptables-save), or rendered from the rule when asked (nft:
    /// rendering 10,000 statements costs more than reading them).
    enum Rendering: Sendable, Hashable {
        case text(String)
        case nftStatement(Rule)
    }

    /// The rule in the backend's own syntax.
    public var text: String {
        switch rendering {
        case .text(let text): text
        case .nftStatement(let rule): NftRenderer.statement(rule)
        }
    }
}

/// Another program's rule or chain that sees packets before meshcap's and could decide their fate.
public struct Ahead: Sendable, Hashable {
    /// Where it is and why it matters, in one sentence.
    public let sentence: String
    /// What it has taken so far, where its counter says so: a rule that ends a packet's way
    /// (ACCEPT, DROP, REDIRECT ...). nil for a jump, whose counter counts what it passed on
    /// whether its chain kept it or not, and for another nft chain (its verdicts are not read).
    public let packets: UInt64?

    public init(sentence: String, packets: UInt64?) {
        self.sentence = sentence
        self.packets = packets
    }
}

/// One reading of a host's firewall through one backend.
public struct LiveRules: Sendable {
    /// meshcap's rules, Istio's leftovers, and other software's rules in the built-in chains
    /// (iptables) or at the hooks meshcap uses (nft).
    public let rules: [ObservedRule]
    /// Other software's rules or chains that see packets before meshcap's and could decide their fate.
    public let ahead: [Ahead]
    let reading: Reading

    /// A reading a stand-in host makes up.
    public static func recorded(rules: [ObservedRule] = [], ahead: [Ahead] = []) -> LiveRules {
        LiveRules(rules: rules, ahead: ahead, reading: .recorded)
    }

    enum Reading: Sendable {
        case nft(RuleDump.Snapshot)
        case iptables([Family: IptablesSave])
        case recorded
    }
}

/// What a host would be sent, and a line per table changed for the report.
public struct Changes: Sendable {
    public let summary: [String]
    let steps: Steps
    /// Tables the steps create that the backend keeps after meshcap's rules are gone (iptables-nft's
    /// `ip mangle` ...): recorded in the journal before they are made, so clean can delete them.
    public let making: [MadeTable]

    init(summary: [String], steps: Steps, making: [MadeTable] = []) {
        self.summary = summary
        self.steps = steps
        self.making = making
    }

    /// Changes a stand-in host makes up: empty when `summary` is.
    public static func recorded(text: String, summary: [String], making: [MadeTable] = []) -> Changes {
        Changes(summary: summary, steps: .recorded(text), making: making)
    }

    enum Steps: Sendable {
        case nft(NetlinkBatch, generation: UInt32)
        /// One restore input per (family, table), in order, with the tool that loads it.
        case iptables([(family: Family, table: String, tool: String, input: String)])
        case recorded(String)
    }

    /// What `--dry-run` prints: exactly what `commit` sends. Made when asked for: printing a
    /// batch of 10,000 rules costs more than sending it.
    public var text: String {
        switch steps {
        case .nft(let batch, _): batch.operations.isEmpty ? "" : batch.text
        case .iptables(let inputs): inputs.map { "# \($0.tool) --noflush --counters\n\($0.input)" }.joined()
        case .recorded(let text): text
        }
    }

    public var isEmpty: Bool {
        switch steps {
        case .nft(let batch, _): batch.operations.isEmpty
        case .iptables(let inputs): inputs.isEmpty
        case .recorded: summary.isEmpty
        }
    }
}

/// One host's firewall through one backend. Reading and planning are kept apart from changing,
/// so `--dry-run` prints what `commit` would send, and `RecordingHost` stands in for the kernel
/// in the tests of everything above it (locking, retries, routing, reports).
public protocol FirewallHost: Sendable {
    /// "nft", "iptables-nft", "iptables-legacy": what messages call it.
    var name: String { get }
    func observe() throws -> LiveRules
    /// What takes the live rules to `desired`; empty when they already are.
    func changes(to desired: DesiredState, from live: LiveRules) throws -> Changes
    /// What removes meshcap's rules (and Istio's: its chains, its jumps, and the built-in rules
    /// of `recognising`, a config it may have applied).
    func removal(from live: LiveRules, recognising: DesiredState?) throws -> Changes
    /// Sends the changes: all of them or, on failure, none (the previous rules in force again);
    /// `PartlyApplied` when a failure could not be taken back.
    func commit(_ changes: Changes) throws
    /// Deletes those of `tables` that hold nothing any more (no rule, no chain of anyone's, every
    /// policy accept), and only if nothing changed while they were checked; returns the ones
    /// deleted. Only iptables-nft makes such tables.
    func deleteEmpty(_ tables: [MadeTable]) throws -> [MadeTable]
    /// The Istio keys that choose this host (NATIVE_NFTABLES, FORCE_IPTABLES_BINARY), so that a
    /// config recorded with them is applied and read back through it.
    var choosingKeys: [(key: String, value: String)] { get }
    /// Zeroes the counters of meshcap's rules as read (and Istio's), and of no one else's;
    /// returns how many rules.
    func resetCounters(_ live: LiveRules) throws -> Int
    /// meshcap's part of a reading (and what stands in its tables or chains), as text in the
    /// backend's own syntax: what `diff` compares with `view(of: desired)`.
    func view(of live: LiveRules) -> String
    func view(of desired: DesiredState) -> String
}

/// A change failed after some of it was made, and taking that back failed too: the rules are
/// neither the old ones nor the new ones. The journal keeps saying so until a run completes it.
public struct PartlyApplied: Failure {
    public let error: HostError
    public init(_ error: HostError) { self.error = error }
    public var exitStatus: ExitStatus { .hostError }
    public var lines: [String] { error.lines }
}

/// The nft host refused a batch because the ruleset changed after it was read. `HostSession`
/// reads again and retries once; when it escapes, it is the second time.
public struct RulesetChanged: Failure {
    public init() {}
    public var exitStatus: ExitStatus { .hostError }
    public var lines: [String] {
        ["the nf_tables ruleset changed after meshcap read it, twice (another program is writing it); nothing was changed"]
    }
}
