import HostOps
import MeshCapture

/// `verify --probe`'s helper: the connections (and datagrams) of one probe round, made from
/// where this process runs (the peer's namespace) or as the proxy's user. One line per endpoint
/// on standard output.
struct ProbeConnect: Subcommand {
    static let spec = CommandSpec(
        name: "probe-connect",
        abstract: "Internal, run by `verify --probe`: one round of its connections, one line per endpoint.",
        options: [
            OptionSpec("timeout", .single(name: "seconds", completion: .none), help: "How long each connection may take. Default: 1.5."),
            OptionSpec("uid", .single(name: "uid", completion: .none), help: "Connect as this user."),
            OptionSpec("gid", .single(name: "gid", completion: .none), help: "Connect as this group."),
            OptionSpec("tag", .single(name: "tag", completion: .none), help: "The probe run's tag, put into each datagram."),
        ],
        operands: Operands(name: "endpoint", help: "ADDRESS:PORT or [IPV6]:PORT, with /udp after it for a datagram."),
        hidden: true)

    let timeout: Double
    let uid: UInt32?
    let gid: UInt32?
    let tag: String
    let endpoints: [String]

    init(_ arguments: Arguments) throws {
        timeout = try arguments.value("timeout") ?? 1.5
        uid = try arguments.value("uid")
        gid = try arguments.value("gid")
        tag = try arguments.value("tag") ?? ""
        endpoints = arguments.operands
    }

    func run() throws {
        try SelfProcess.become(uid: uid, gid: gid)
        let targets = try endpoints.map { text -> ConnectionAttempt.Target in
            guard let target = ConnectionAttempt.Target(parsing: text) else {
                throw ConfigError(origin: nil, message: "\(text.excerpt) is no endpoint; allowed: ADDRESS:PORT or [IPV6]:PORT, with /udp or /tcp after it")
            }
            return target
        }
        for outcome in ConnectionAttempt.connect(targets, tag: tag, timeout: timeout) { print(outcome) }
    }
}
