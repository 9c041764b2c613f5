import Glibc
import HostOps
import IptablesBackend
import MeshCapture
import NftablesBackend

/// The firewall backend a host command works on. `HostOptions.firewall` is the one place a
/// backend becomes a host, and `dialect` the one place it becomes a syntax: everything after
/// works through those.
enum BackendChoice: String, ArgumentValue, CaseIterable {
    /// meshcap's three inet tables, over netlink (no nft binary needed).
    case nft
    /// ISTIO chains through iptables-restore, in the chosen variant.
    case iptables

    var dialect: any Dialect {
        switch self {
        case .nft: NftDialect()
        case .iptables: IptablesDialect()
        }
    }
}

extension IptablesVariant: ArgumentValue {}

/// Which firewall a host command works on, and how long it waits for others.
struct HostOptions {
    static let options = [
        OptionSpec("backend", .single(name: "backend", completion: .words(BackendChoice.choices)),
                   help: "nft (meshcap's inet tables over netlink) or iptables. Default: what NATIVE_NFTABLES / FORCE_IPTABLES_BINARY say, else where the rules are (meshcap's nft tables, else an iptables variant holding ISTIO chains), else nft (iptables on the fake host of MESHCAP_FAKE_HOST)."),
        OptionSpec("iptables-variant", .single(name: "variant", completion: .words(IptablesVariant.choices)),
                   help: "With --backend iptables: nft or legacy. Default: the variant that holds ISTIO chains, else the one the system's iptables is."),
        OptionSpec("netns", .single(name: "name|path", completion: .none),
                   help: "Work in this network namespace: a name from `ip netns list`, or a path such as /proc/PID/ns/net. Istio's NETWORK_NAMESPACE (--network-namespace) means the same; this flag wins over it. The caller's own namespace is not touched."),
        OptionSpec("wait", .single(name: "seconds", completion: .none),
                   help: "Seconds to wait for another meshcap run on this namespace, and for the xtables lock. Default: 10."),
    ]

    let backend: BackendChoice?
    let iptablesVariant: IptablesVariant?
    let netns: String?
    let wait: Int
    /// The kernel, or the fake host MESHCAP_FAKE_HOST names.
    let site = Site.current

    init(_ arguments: Arguments) throws(ConfigError) {
        backend = try arguments.value("backend")
        iptablesVariant = try arguments.value("iptables-variant")
        netns = try arguments.value("netns")
        wait = try arguments.value("wait") ?? 10
        if wait < 0 { throw ConfigError(origin: .flag("--wait"), message: "\(wait) is not allowed; allowed: seconds from 0 (0: do not wait)") }
    }

    /// Enters the namespace `--netns` or NETWORK_NAMESPACE names, before anything reads or
    /// changes a rule; says which on standard error. `run` is the loaded config's; clean and
    /// verify without one still take the key from the environment, as istio-iptables would.
    func enterNamespace(_ run: RunSettings) throws {
        let key = run.networkNamespace ?? getenv("NETWORK_NAMESPACE").map { String(cString: $0) }.flatMap {
            $0.isEmpty ? nil : Setting(key: "NETWORK_NAMESPACE", value: $0, origin: .environment("NETWORK_NAMESPACE"))
        }
        let namespace = try netns.map { spec throws(ConfigError) in try NetworkNamespace(spec, asked: "--netns \(spec)") }
            ?? key.map { setting throws(ConfigError) in try NetworkNamespace(setting.value, asked: setting.cited) }
        guard let namespace else { return }
        try namespace.enter()
        var details = namespace.spec == namespace.path ? [] : [namespace.path]
        if netns != nil, let key, key.value != namespace.spec { details.append("--netns wins over \(key.cited)") }
        Report.say(["in network namespace \(namespace.spec)" + (details.isEmpty ? "" : " (\(details.joined(separator: "; ")))")])
    }

    /// The backend and variant: flags first, then Istio's keys, then where the rules already
    /// are (so that apply, diff and verify all work on the rules a host has, and a second apply
    /// never adds a second backend's capture), then nft.
    ///
    /// - Parameter moving: apply moves the capture out of every other place, so the warning that
    ///   both iptables variants hold ISTIO chains is not said there.
    func choose(_ run: RunSettings, residue: Residue, moving: Bool = false) throws -> (host: any FirewallHost, notes: [String]) {
        // The key table accepts only "legacy" and "nft" for FORCE_IPTABLES_BINARY.
        let keyVariant = run.iptablesVariant.flatMap { setting in IptablesVariant(rawValue: setting.value).map { ($0, setting.cited) } }
        let flagVariant = iptablesVariant.map { ($0, "--iptables-variant \($0.rawValue)") }
        let told = self.backend ?? (run.nativeNftables != nil ? .nft : keyVariant != nil || iptablesVariant != nil ? .iptables : nil)
        let inIptables = residue.nftTables.isEmpty && !residue.iptables.isEmpty
        let backend = told ?? (inIptables || !site.hasNft ? .iptables : .nft)
        guard backend == .iptables else { return (try firewall(.nft), []) }
        let choice = residue.variant(forced: flagVariant ?? keyVariant, systemVariant: site.systemVariant)
        let why = told == nil && site.hasNft ? " (--backend nft to use nft instead)" : ""
        return (try firewall(.iptables, variant: choice.variant),
                ["using iptables-\(choice.variant.rawValue): \(choice.reason)\(why)"] + (moving ? [] : choice.warning.map { ["warning: " + $0] } ?? []))
    }
}

extension HostOptions {
    /// The host of a backend (iptables: in `variant`, else the system's), on this site.
    func firewall(_ backend: BackendChoice, variant: IptablesVariant? = nil) throws -> any FirewallHost {
        switch backend {
        case .nft: try site.nft()
        case .iptables: try site.iptables(variant ?? site.systemVariant ?? .nft, wait: wait)
        }
    }

    /// A session on this site's routing and journal.
    func session(_ firewall: any FirewallHost, journal: Journal) throws -> HostSession {
        HostSession(firewall: firewall, routing: try site.routing(), journal: journal)
    }
}

extension ConfigOptions {
    /// Whether any config was given (files or istio-iptables flags), as opposed to the defaults.
    var given: Bool { !files.isEmpty || !istioFlags.isEmpty }

    /// When a host command takes the namespace's lock (see `HostLock`).
    enum Locking {
        /// Held to the end: the command changes rules (or zeroes counters by number).
        case hold
        /// Waited for only when an apply or clean has not ended (it may be running now), so that
        /// what the journal says is read once that run is done; not held.
        case whenInterrupted
        case never
    }

    /// The config a host command works with, read inside its namespace (`--netns`,
    /// NETWORK_NAMESPACE): the one given; without one, the one meshcap recorded for the rules
    /// there (the config an interrupted apply was putting in force, else the last apply's); else
    /// Istio's defaults, unsaid (verify recognises rules without them, diff refuses them; a
    /// command that uses them says so). With the journal's word on an operation that did not end.
    ///
    /// - Parameter entering: false for a command that reads the config only (explain without
    ///   --live): the namespace is not entered, and the record is this one's.
    func loadOnHost(_ host: HostOptions, locking: Locking, entering: Bool = true) throws -> OnHost {
        var (loaded, accounts) = try load(say: given)
        if entering { try host.enterNamespace(loaded.run) }
        let journal = host.site.journal()
        let lock: HostLock?
        switch locking {
        case .hold: lock = try HostLock(wait: Double(host.wait))
        case .whenInterrupted: lock = journal.intent() == nil ? nil : try HostLock(wait: Double(host.wait))
        case .never: lock = nil
        }
        let interrupted = journal.intent()
        var recorded: String?
        if !given, let path = journal.target ?? journal.applied {
            (loaded, accounts) = try load(recorded: path)
            recorded = path
            Report.say(["no config given: using the config \(path == journal.target ? "the interrupted apply was putting in force" : "of the last apply") (\(path))"])
        }
        return OnHost(loaded: loaded, accounts: accounts, recorded: recorded, hasConfig: given || recorded != nil, journal: journal,
                      interrupted: interrupted, lock: locking == .hold ? lock : nil)
    }
}

/// A host command's config and journal (see `ConfigOptions.loadOnHost`).
struct OnHost {
    let loaded: LoadedConfig
    let accounts: AccountDatabase
    /// The recorded config used because none was given.
    let recorded: String?
    /// Whether there is a config to compare with: given, or recorded (else Istio's defaults).
    let hasConfig: Bool
    let journal: Journal
    /// An apply or clean that began and did not end.
    let interrupted: Journal.Intent?
    /// The namespace's lock, for a command that holds it to the end.
    let lock: HostLock?
}

extension CapturePlan {
    /// What apply programs in `dialect` (nil: every backend's layouts, for clean to recognise):
    /// resolving a layout no host uses costs as much as compiling it.
    func desired(_ accounts: AccountDatabase, in dialect: (any Dialect)?) -> DesiredState {
        let dialects = dialect.map { [$0] } ?? BackendChoice.allCases.map(\.dialect)
        let layouts = dialects.flatMap { $0.layouts(config.families.sorted()) }
        return DesiredState(rulesets: layouts.map { ruleset(for: $0) }, routing: routing, resolve: accounts.resolver,
                            capturesNothing: config.capturesNothing)
    }
}
