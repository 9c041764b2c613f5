import Glibc
import HostOps
import MeshCapture

/// A subcommand: what it accepts, how it takes its values from the parsed words, what it does.
protocol Subcommand {
    static var spec: CommandSpec { get }
    init(_ arguments: Arguments) throws
    func run() throws
}

@main
enum Meshcap {
    static let release = "0.2.0"
    static let version = "meshcap \(release) (commit \(BuildInfo.commit))"

    static let abstract = "Compile, apply and verify the firewall rules that send a workload's traffic through its sidecar proxy."
    static let discussion = """
        Start with `meshcap compile --config /var/lib/istio/envoy/cluster.env` (the file istioctl writes for \
        a VM), which prints iptables-restore input; `--backend nft` prints an nft script. `meshcap keys` \
        lists every config key. A VM joining the mesh: `meshcap cidr`, `meshcap doctor`, `meshcap apply`, \
        `meshcap verify`.
        """

    static var subcommands: [any Subcommand.Type] {
        [Compile.self, Apply.self, Clean.self, Diff.self, VerifyCommand.self, Explain.self, Doctor.self, Cidr.self, Keys.self,
         ProbeConnect.self, KernelProbe.self, ResolveNames.self]
    }
    static var specs: [CommandSpec] { subcommands.map { $0.spec } }

    /// One catch for every meshcap error: each knows its exit status.
    /// A SIGTERM held back while the rules changed ends the run after what it did is said.
    static func main() {
        // One netlink socket per protocol for the run, the chain list read once per generation.
        NetlinkConnection.shareForThisRun()
        do {
            try dispatch(Array(CommandLine.arguments.dropFirst()))
            SignalDeferral.endIfOneArrived { Report.say($0) }
        } catch let failure as Failure {
            Report.say(failure.lines)
            SignalDeferral.endIfOneArrived { Report.say($0) }
            exit(failure.exitStatus.rawValue)
        } catch {
            Report.say(["\(error)"])
            SignalDeferral.endIfOneArrived { Report.say($0) }
            exit(ExitStatus.hostError.rawValue)
        }
    }

    static func dispatch(_ words: [String]) throws {
        guard let first = words.first else { return print(Help.overview(abstract: abstract, discussion: discussion, subcommands: specs), terminator: "") }
        let rest = Array(words.dropFirst())
        switch first.split(separator: "=", maxSplits: 1).first.map(String.init) ?? first {
        case "-h", "--help":
            return print(Help.overview(abstract: abstract, discussion: discussion, subcommands: specs), terminator: "")
        case "--version", "-V", "version":
            return print(version)
        case "help":
            guard let name = rest.first else { return try dispatch(["--help"]) }
            return print(Help.of(try subcommand(named: name).spec), terminator: "")
        case "--generate-completion-script":
            let shell = try Arguments.value(of: "--generate-completion-script", in: words, as: Completions.Shell.self)
            return print(Completions.script(for: shell, subcommands: specs), terminator: "")
        case "--generate-manual":
            let date = try Arguments.value(of: "--generate-manual", in: words, as: String.self)
            return print(try ManualPage.render(date: date, version: version, abstract: abstract, discussion: discussion, subcommands: specs), terminator: "")
        default:
            let type = try subcommand(named: first)
            switch try Arguments.parse(rest, by: type.spec) {
            case .help: print(Help.of(type.spec), terminator: "")
            case .version: print(version)
            case .run(let arguments): try type.init(arguments).run()
            }
        }
    }

    static func subcommand(named name: String) throws(ConfigError) -> any Subcommand.Type {
        guard let type = subcommands.first(where: { $0.spec.name == name }) else {
            let names = specs.filter { !$0.hidden }.map(\.name).joined(separator: ", ")
            let nearest = ConfigLoader.suggestion(for: name, among: specs.filter { !$0.hidden }.map(\.name) + ["version", "help"])
            throw ConfigError(origin: nil, message: "\(name.excerpt) is not a subcommand\(nearest); allowed: \(names), version, or --help, --version")
        }
        return type
    }
}
