import ArgumentParser
import Glibc
import MeshCapture
import Verify

/// `verify --probe`'s helper: the connections of one probe round, made from where this process
/// runs (the peer's namespace) or as the proxy's user. One line per endpoint on standard output.
struct ProbeConnect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe-connect",
        abstract: "Internal, run by `verify --probe`: one round of its connections, one line per endpoint.",
        shouldDisplay: false)

    @Option var timeout: Double = 1.5
    @Option var uid: UInt32?
    @Option var gid: UInt32?
    @Argument var endpoints: [String] = []

    func run() throws {
        // The group first: once the user is not root, the group cannot change.
        if let gid, setgroups(0, nil) != 0 || setgid(gid) != 0 { throw HostError("cannot become group \(gid)", errno: errno) }
        if let uid, setuid(uid) != 0 { throw HostError("cannot become user \(uid)", errno: errno) }
        let targets = try endpoints.map { text -> Endpoint in
            guard let endpoint = Endpoint(parsing: text) else { throw ValidationError("\(text): allowed: ADDRESS:PORT or [IPV6]:PORT") }
            return endpoint
        }
        for outcome in ConnectionAttempt.connect(targets, timeout: timeout) { print(outcome) }
    }
}
