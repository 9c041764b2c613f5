import ArgumentParser
import Glibc
import MeshCapture
import Verify

/// `doctor`'s helper: asks for names as the proxy's user. That is who must resolve istiod (the
/// agent runs as it), and the capture rules let its DNS through to the VM's resolvers, where
/// anyone else's would go to the agent's DNS proxy (or nowhere, while the agent is down). The
/// files are read before the user changes. One line per name (`NameLookup.Outcome.line`).
struct ResolveNames: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve-names",
        abstract: "Internal, run by `doctor`: resolve names as the proxy's user, one line each.",
        shouldDisplay: false)

    @Option var uid: UInt32?
    @Option var gid: UInt32?
    @Option var hosts: String
    @Option var resolvConf: String
    @Argument var names: [String] = []

    func run() throws {
        let hostsText = try? InputFile.read(hosts, role: "hosts file", strictText: false)
        let resolver = NameLookup.Resolver(try InputFile.read(resolvConf, role: "resolver file", strictText: false))
        // The group first: once the user is not root, the group cannot change.
        if let gid, setgroups(0, nil) != 0 || setgid(gid) != 0 { throw HostError("cannot become group \(gid)", errno: errno) }
        if let uid, setuid(uid) != 0 { throw HostError("cannot become user \(uid)", errno: errno) }
        for name in names { print(NameLookup.resolve(name, hosts: hostsText, resolver: resolver).line) }
    }
}
