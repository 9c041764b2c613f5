import Foundation
import HostOps
import TestSupport

/// A network namespace made for one test and deleted with it. Nothing here touches any other
/// namespace's firewall.
final class Namespace {
    let name: String

    /// Namespaces are named mc<test process id>-<random>-<role>. A run that was killed (a
    /// timeout, SIGPIPE) cannot delete its own, so each run first deletes those whose test
    /// process is gone. Nothing else matches the pattern, and no other namespace is touched.
    private static let staleRemoved: Void = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/var/run/netns")) ?? []
        for name in names where name.hasPrefix("mc") {
            let parts = name.dropFirst(2).split(separator: "-")
            guard parts.count == 3, let pid = Int32(parts[0]), UInt16(parts[1]) != nil, pid != getpid(),
                  kill(pid, 0) != 0, errno == ESRCH else { continue }
            _ = try? run("ip", ["netns", "del", name])
        }
    }()

    init(_ role: String) throws {
        Self.staleRemoved
        name = "mc\(getpid())-\(UInt16.random(in: 0...UInt16.max))-\(role)"
        let result = try run("ip", ["netns", "add", name])
        guard result.status == 0 else { throw LoadFailure(description: "ip netns add \(name): \(result.stderr)") }
        try exec("ip", "link", "set", "lo", "up")
    }

    deinit {
        _ = try? run("ip", ["netns", "del", name])
    }

    /// Runs `body` in-process inside this namespace, on a thread made for it: setns(2) moves only
    /// the calling thread, so the thread enters, runs `body` and exits. Sockets `body` opens belong
    /// to this namespace; if entering fails, `body` does not run at all.
    func inside<Result>(_ body: @escaping @Sendable () throws -> Result) throws -> Result {
        nonisolated(unsafe) var outcome: Swift.Result<Result, Error>?
        let done = DispatchSemaphore(value: 0)
        let name = self.name
        let thread = Thread {
            defer { done.signal() }
            outcome = Swift.Result {
                try NetworkNamespace(name, asked: "test namespace \(name)").enter()
                return try body()
            }
        }
        thread.start()
        done.wait()
        guard let outcome else { throw LoadFailure(description: "the namespace thread did not finish") }
        return try outcome.get()
    }

    /// Runs a command inside the namespace; a non-zero exit is an error carrying its stderr.
    @discardableResult
    func exec(_ arguments: String..., input: String? = nil) throws -> String {
        try exec(arguments, input: input)
    }

    func exec(_ arguments: [String], input: String? = nil) throws -> String {
        let result = try run("ip", ["netns", "exec", name] + arguments, input: input)
        guard result.status == 0 else {
            throw LoadFailure(description: "\(arguments.joined(separator: " ")) in \(name) exited \(result.status): \(result.stderr)")
        }
        return result.stdout
    }
}
