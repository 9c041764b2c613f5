import ArgumentParser
import Glibc
import MeshCapture

/// The config every rule-making command reads: files, the environment, istio-iptables flags on
/// top, and the host files Istio would fill gaps from.
struct ConfigOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: ArgumentHelp("A KEY=VALUE file (cluster.env style), or - for standard input; repeatable, later files win.", valueName: "file"))
    var files: [String] = []

    @Option(help: ArgumentHelp("Where user names are looked up: ENVOY_USER's UID is PROXY_UID when that is unset.", valueName: "file"))
    var passwdFile = AccountDatabase.defaultPasswdPath

    @Option(help: ArgumentHelp("Where group names in PROXY_GID and OUTBOUND_OWNER_GROUPS_* are checked.", valueName: "file"))
    var groupFile = AccountDatabase.defaultGroupPath

    @Option(help: ArgumentHelp("Where DNS servers come from when DNS capture is on and DNS_SERVERS_V4/V6 are not set.", valueName: "file"))
    var resolvConf = ResolvConf.defaultPath

    @Flag(help: "Make unknown keys and keys set twice errors (exit 2) instead of warnings.")
    var strict = false

    @Flag(name: .shortAndLong, help: "Also report keys that were accepted but shape no rule, inert settings and line endings.")
    var verbose = false

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("istio-iptables flags, e.g. -i 10.96.0.0/12 -b 8080 --redirect-dns (see `meshcap keys`); they win over --config files.", valueName: "istio-flags"))
    var istioFlags: [String] = []

    /// The config, and the account files its names were checked against (and resolve through).
    /// Says on standard error what deserves a word: warnings always, what came from the host's
    /// files in one line, notes with --verbose.
    func load() throws -> (LoadedConfig, AccountDatabase) {
        let accounts = try AccountDatabase(passwdPath: passwdFile, groupPath: groupFile)
        let loaded = try ConfigLoader.load(files: files, environment: { getenv($0).map { String(cString: $0) } }, flags: istioFlags,
                                           accounts: accounts, resolvConf: resolvConf, strict: strict)
        Report.warning(loaded.warnings)
        if !loaded.fromEnvironment.isEmpty { Report.say(["from the environment: " + loaded.fromEnvironment.joined(separator: "; ")]) }
        if !loaded.fromHost.isEmpty { Report.say(["filled in: " + loaded.fromHost.joined(separator: "; ")]) }
        if verbose { Report.note(loaded.notes) }
        return (loaded, accounts)
    }
}
