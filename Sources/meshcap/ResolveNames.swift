import HostOps
import MeshCapture

/// `doctor`'s helper: asks for names as the proxy's user. That is who must resolve istiod (the
/// agent runs as it), and the capture rules let its DNS through to the VM's resolvers, where
/// anyone else's would go to the agent's DNS proxy (or nowhere, while the agent is down). The
/// files are read before the user changes. One line per name (`NameLookup.Outcome.line`).
struct ResolveNames: Subcommand {
    static let spec = CommandSpec(
        name: "resolve-names",
        abstract: "Internal, run by `doctor`: resolve names as the proxy's user, one line each.",
        options: [
            OptionSpec("uid", .single(name: "uid", completion: .none), help: "Resolve as this user."),
            OptionSpec("gid", .single(name: "gid", completion: .none), help: "Resolve as this group."),
            OptionSpec("hosts", .single(name: "file", completion: .file), help: "The hosts file; none when not given."),
            OptionSpec("resolv-conf", .single(name: "file", completion: .file), help: "The resolver file (required)."),
        ],
        operands: Operands(name: "name", help: "A name to resolve."),
        hidden: true)

    let uid: UInt32?
    let gid: UInt32?
    let hosts: String?
    let resolvConf: String
    let names: [String]

    init(_ arguments: Arguments) throws {
        uid = try arguments.value("uid")
        gid = try arguments.value("gid")
        hosts = try arguments.value("hosts")
        resolvConf = try arguments.required("resolv-conf", of: Self.spec)
        names = arguments.operands
    }

    func run() throws {
        let hostsText = try hosts.map { path throws(ConfigErrors) in try InputFile.read(path, role: "hosts file", strictText: false) }
        let resolver = NameLookup.Resolver(try InputFile.read(resolvConf, role: "resolver file", strictText: false))
        try SelfProcess.become(uid: uid, gid: gid)
        for name in names { print(NameLookup.resolve(name, hosts: hostsText, resolver: resolver).line) }
    }
}
