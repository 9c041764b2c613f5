import Glibc
import HostOps
import MeshCapture

/// Everything meshcap says on standard error goes through here, one "meshcap: " line at a time,
/// with control and invisible characters written out: messages quote the user's input, and a
/// stray escape sequence in a config file must not reach the terminal as one.
enum Report {
    static func say(_ lines: [String], prefix: String = "") {
        let text = lines.filter { !$0.isEmpty }.flatMap { $0.split(separator: "\n", omittingEmptySubsequences: false) }
            .map { "meshcap: \(prefix)\(String($0).escapedForTerminal)\n" }.joined()
        TextFile.standardError(text)
    }

    static func warning(_ lines: [String]) { say(lines, prefix: "warning: ") }
    static func note(_ lines: [String]) { say(lines, prefix: "note: ") }
}

/// diff found drift, verify found capture broken: exit 1, what was found already printed.
struct ProblemFound: Failure {
    var exitStatus: ExitStatus { .problemFound }
    var lines: [String] { [] }
}
