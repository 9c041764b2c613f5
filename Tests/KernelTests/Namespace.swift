import Foundation
import TestSupport

/// A network namespace made for one test and deleted with it. Nothing here touches any other
/// namespace's firewall.
final class Namespace {
    let name: String

    init(_ role: String) throws {
        name = "mc\(getpid())-\(UInt16.random(in: 0...UInt16.max))-\(role)"
        let result = try run("ip", ["netns", "add", name])
        guard result.status == 0 else { throw LoadFailure(description: "ip netns add \(name): \(result.stderr)") }
        try exec("ip", "link", "set", "lo", "up")
    }

    deinit {
        _ = try? run("ip", ["netns", "del", name])
    }

    /// Runs a command inside the namespace; a non-zero exit is an error carrying its stderr.
    @discardableResult
    func exec(_ arguments: String..., input: String? = nil) throws -> String {
        let result = try run("ip", ["netns", "exec", name] + arguments, input: input)
        guard result.status == 0 else {
            throw LoadFailure(description: "\(arguments.joined(separator: " ")) in \(name) exited \(result.status): \(result.stderr)")
        }
        return result.stdout
    }
}
