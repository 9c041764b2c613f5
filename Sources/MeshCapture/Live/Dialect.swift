/// A firewall syntax, both ways and without I/O: what a host's reading means in the model
/// (meshcap's rules, Istio's, other software's, and what runs ahead of them), what takes a
/// reading to a desired state or removes meshcap's rules from it, and how the model's rules,
/// tables and chains are spelled. `NftDialect` and `IptablesDialect` are the two; a host
/// (`FirewallHost` in HostOps) only reads a `Reading` and commits `Steps`, so a stand-in host
/// that applies the same steps in memory tests everything above the kernel.
public protocol Dialect: Sendable {
    /// One reading of a host's rules, as the dialect's tools or messages give them.
    associatedtype Reading: Sendable
    /// What a host is sent to change its rules, in one go or one transaction at a time.
    associatedtype Steps: Sendable

    /// "nft", "iptables": the `--backend` value.
    var syntax: String { get }
    /// The layouts this dialect programs for a config with `families` enabled.
    func layouts(_ families: [Family]) -> [Layout]
    /// meshcap's rules, Istio's and other software's at meshcap's hooks, and what runs ahead.
    func live(_ reading: Reading) -> LiveRules<Reading>
    /// What takes the reading to `desired`: empty steps when it already is.
    func changes(to desired: DesiredState, from reading: Reading) throws -> Changes<Steps>
    /// What removes meshcap's rules, and Istio's (its chains, its jumps, and the built-in rules
    /// of `recognising`, a config it may have applied).
    func removal(from reading: Reading, recognising: DesiredState?) throws -> Changes<Steps>
    /// Exactly what would be sent, for `--dry-run`.
    func text(of steps: Steps) -> String
    func isEmpty(_ steps: Steps) -> Bool
    /// The config's rules and chains as a reading of them would show them (canonical rules, in
    /// the order the dialect lists them): what the comparison holds the live ones against.
    func expected(_ desired: DesiredState) -> (rules: [ObservedRule], chains: [ObservedChain])
    /// meshcap's part of rules and chains as read, or expected (and what stands in its tables or
    /// chains), as text in the dialect's syntax: the two sides `diff` prints.
    func view(of rules: [ObservedRule], chains: [ObservedChain]) -> String
    /// The model's names in this syntax.
    func table(_ kind: TableKind) -> String
    func chain(_ name: ChainName) -> String
    /// One rule as this syntax writes it (the family picks iptables' address words).
    func statement(_ rule: Rule, family: Family) -> String
    /// A rule in the form it is read back in: what the config's rules are compared as.
    func canonical(_ rule: Rule, resolve: OwnerResolver) -> Rule
}

/// One reading of a host's firewall in a dialect's terms, and the reading itself for planning.
public struct LiveRules<Reading: Sendable>: Sendable {
    /// meshcap's rules, Istio's leftovers, and other software's rules in the built-in chains
    /// (iptables) or at the hooks meshcap uses (nft).
    public let rules: [ObservedRule]
    /// Other software's rules or chains that see packets before meshcap's and could decide their fate.
    public let ahead: [Ahead]
    /// The chains meshcap's rules are in, and meshcap's own (empty ones too).
    public let chains: [ObservedChain]
    public let reading: Reading

    public init(rules: [ObservedRule], ahead: [Ahead], chains: [ObservedChain], reading: Reading) {
        self.rules = rules
        self.ahead = ahead
        self.chains = chains
        self.reading = reading
    }
}

/// What a host would be sent, and a line per table changed for the report.
public struct Changes<Steps: Sendable>: Sendable {
    public let summary: [String]
    public let steps: Steps
    /// Tables the steps create (iptables-nft's `ip mangle` ... are kept by the backend after
    /// meshcap's rules are gone): recorded in the journal before they are made, so clean can
    /// delete them.
    public let making: [MadeTable]

    public init(summary: [String], steps: Steps, making: [MadeTable] = []) {
        self.summary = summary
        self.steps = steps
        self.making = making
    }
}

/// What meshcap programs on a host for one config: the rulesets of the dialect's layouts (an nft
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

/// A table iptables-nft made for meshcap's rules: `ip mangle`, `ip6 nat`.
public struct MadeTable: Sendable, Hashable, CustomStringConvertible {
    public let family: Family
    public let name: String

    public init(family: Family, name: String) {
        self.family = family
        self.name = name
    }

    public init?(_ line: String) {
        let words = line.split(separator: " ")
        guard words.count == 2, let family = Family.allCases.first(where: { $0.nftName == words[0] }) else { return nil }
        self.init(family: family, name: String(words[1]))
    }

    public var description: String { "\(family.nftName) \(name)" }
}

