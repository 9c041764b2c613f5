import Glibc
import MeshCapture

/// The config every rule-making command reads: files, the environment, istio-iptables flags on
/// top, and the host files Istio would fill gaps from.
struct ConfigOptions {
    static let options = [
        OptionSpec("config", .repeated(name: "file", completion: .file),
                   help: "A KEY=VALUE file (cluster.env style), or - for standard input; repeatable, later files win."),
        OptionSpec("passwd-file", .single(name: "file", completion: .file),
                   help: "Where user names are looked up: ENVOY_USER's UID is PROXY_UID when that is unset. Default: \(AccountDatabase.defaultPasswdPath)."),
        OptionSpec("group-file", .single(name: "file", completion: .file),
                   help: "Where group names in PROXY_GID and OUTBOUND_OWNER_GROUPS_* are checked. Default: \(AccountDatabase.defaultGroupPath)."),
        OptionSpec("resolv-conf", .single(name: "file", completion: .file),
                   help: "Where DNS servers come from when DNS capture is on and DNS_SERVERS_V4/V6 are not set. Default: \(ResolvConf.defaultPath)."),
        OptionSpec("strict", help: "Make unknown keys and keys set twice errors (exit 2) instead of warnings."),
        OptionSpec("verbose", short: "v", help: "Also report keys that were accepted but shape no rule, inert settings and line endings."),
    ]

    /// Every option the config loader does not know as meshcap's own is istio-iptables'.
    static let operands = Operands(name: "istio-flags", help: "istio-iptables flags, e.g. -i 10.96.0.0/12 -b 8080 --redirect-dns (see `meshcap keys`); they win over --config files.",
                                   unknownOptionsToo: true)

    let files: [String]
    let passwdFile: String
    let groupFile: String
    let resolvConf: String
    let strict: Bool
    let verbose: Bool
    let istioFlags: [String]

    init(_ arguments: Arguments) throws(ConfigError) {
        files = arguments.all("config")
        passwdFile = try arguments.value("passwd-file") ?? AccountDatabase.defaultPasswdPath
        groupFile = try arguments.value("group-file") ?? AccountDatabase.defaultGroupPath
        resolvConf = try arguments.value("resolv-conf") ?? ResolvConf.defaultPath
        strict = arguments.flag("strict")
        verbose = arguments.flag("verbose")
        istioFlags = arguments.operands
    }

    /// The config, and the account files its names were checked against (and resolve through).
    /// Says on standard error what deserves a word (`say`).
    ///
    /// - Parameter recorded: a config meshcap recorded (`Journal`), read in place of the files:
    ///   its warnings were said when it was applied, and are not said again on every verify.
    func load(recorded: String? = nil, say: Bool = true) throws -> (LoadedConfig, AccountDatabase) {
        let accounts = try AccountDatabase(passwdPath: passwdFile, groupPath: groupFile)
        let loaded = try ConfigLoader.load(files: recorded.map { [$0] } ?? files, environment: { getenv($0).map { String(cString: $0) } }, flags: istioFlags,
                                           accounts: accounts, resolvConf: resolvConf, strict: strict, droppedSettings: recorded == nil)
        if say && recorded == nil { self.say(loaded) }
        return (loaded, accounts)
    }

    /// Warnings always, settings from the environment and what came from the host's files in a
    /// line each, notes with --verbose.
    func say(_ loaded: LoadedConfig) {
        Report.warning(loaded.warnings)
        if !loaded.fromEnvironment.isEmpty { Report.say(["from the environment: " + loaded.fromEnvironment.joined(separator: "; ")]) }
        if !loaded.fromHost.isEmpty { Report.say(["filled in: " + loaded.fromHost.joined(separator: "; ")]) }
        if verbose { Report.note(loaded.notes) }
    }
}
