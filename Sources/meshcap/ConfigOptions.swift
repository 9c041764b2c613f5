import ArgumentParser
import MeshCapture

/// The config every rule-making command reads: files, then istio-iptables flags on top.
struct ConfigOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: ArgumentHelp("A KEY=VALUE file (cluster.env style); repeatable, later files win.", valueName: "file"))
    var files: [String] = []

    @Option(help: ArgumentHelp("Where user names in PROXY_UID are checked.", valueName: "file"))
    var passwdFile = "/etc/passwd"

    @Option(help: ArgumentHelp("Where group names in PROXY_GID and OUTBOUND_OWNER_GROUPS_* are checked.", valueName: "file"))
    var groupFile = "/etc/group"

    @Flag(name: .shortAndLong, help: "Report keys that were accepted but shape no rule, and inert settings.")
    var verbose = false

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("istio-iptables flags, e.g. -i 10.96.0.0/12 -b 8080 --redirect-dns (see `meshcap keys`); they win over --config files.", valueName: "istio-flags"))
    var istioFlags: [String] = []

    /// The config, and the account files its names were checked against (and resolve through).
    func load() throws -> (InterceptConfig, AccountDatabase) {
        let accounts = try AccountDatabase(passwdPath: passwdFile, groupPath: groupFile)
        let loaded = try ConfigLoader.load(files: files, flags: istioFlags, accounts: accounts)
        if verbose {
            TextFile.writeError(loaded.notes.map { "meshcap: note: \($0)\n" }.joined())
        }
        return (loaded.config, accounts)
    }
}
