import Foundation

/// The repository root, found from this file's place in it.
public let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// `../shared` beside the repository, where the conformance corpus lives (absent on some machines).
public let sharedDirectory = packageRoot.deletingLastPathComponent().appendingPathComponent("shared")

/// The `meshcap` binary built beside the test bundle.
public let meshcap: String = {
    let bundle = Bundle.allBundles.map(\.bundleURL).first { $0.pathExtension == "xctest" }
        ?? URL(fileURLWithPath: CommandLine.arguments[0])
    return bundle.deletingLastPathComponent().appendingPathComponent("meshcap").path
}()

public struct ProcessResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// SIGPIPE ignored in the test process, once: see `run`.
private let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

/// Runs a program to completion, feeding `input` on stdin.
@discardableResult
public func run(_ executable: String, _ arguments: [String], input: String? = nil,
                environment: [String: String]? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
    process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe(), inPipe = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = inPipe
    try process.run()
    // Read both pipes while the process runs so neither can fill up and block it.
    let group = DispatchGroup()
    nonisolated(unsafe) var outData = Data(), errData = Data()
    DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
    DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
    // A program that exits before reading all its input (a refusal) leaves the pipe without a
    // reader: the write fails with EPIPE, instead of SIGPIPE ending the whole test run (it did).
    _ = ignoreBrokenPipes
    if let input { try? inPipe.fileHandleForWriting.write(contentsOf: Data(input.utf8)) }
    try inPipe.fileHandleForWriting.close()
    process.waitUntilExit()
    group.wait()
    return ProcessResult(status: process.terminationStatus,
                         stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

/// `diff -u` of two texts, labelled, for failure messages a human can read.
public func unifiedDiff(expected: String, actual: String, label: String) -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshcap-diff-\(UUID())")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let a = directory.appendingPathComponent("expected"), b = directory.appendingPathComponent("actual")
    try? expected.write(to: a, atomically: true, encoding: .utf8)
    try? actual.write(to: b, atomically: true, encoding: .utf8)
    let result = try? run("diff", ["-u", "--label", "\(label) (expected)", "--label", "\(label) (actual)", a.path, b.path])
    return result?.stdout ?? "(diff unavailable)"
}

/// A fresh directory, removed by the caller.
public func temporaryDirectory(_ purpose: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("meshcap-\(purpose)-\(UUID())")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The process ID of a process that has run and exited: one no running process has (until the
/// kernel hands it out again, which takes a full turn of the PID space).
public func exitedProcessID() throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/true")
    try process.run()
    process.waitUntilExit()
    return process.processIdentifier
}

/// `Packaging/install.sh` of the built binary into `destdir` (PREFIX /usr/local), the man page
/// dated from `epoch`, as `make install` runs it.
public enum InstallScript {
    public static let path = packageRoot.appendingPathComponent("Packaging/install.sh").path
    public static let prefix = "/usr/local"

    public static func run(into destdir: URL, epoch: String = "1764201600", _ extra: [String] = []) throws -> ProcessResult {
        var environment = ProcessInfo.processInfo.environment
        environment["SOURCE_DATE_EPOCH"] = epoch
        return try TestSupport.run("/bin/sh", [path, "--binary", meshcap, "--prefix", prefix, "--destdir", destdir.path] + extra, environment: environment)
    }
}

/// Runs `body` with `signal` deliverable on this thread. Dispatch's worker threads, where tests
/// run, start with signals blocked: a test of code that must hold a signal back unblocks it, so
/// that code which did not would end the test run.
public func withSignalUnblocked<Result>(_ signal: Int32, _ body: () throws -> Result) rethrows -> Result {
    var set = sigset_t(), workerMask = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, signal)
    pthread_sigmask(SIG_UNBLOCK, &set, &workerMask)
    defer { pthread_sigmask(SIG_SETMASK, &workerMask, nil) }
    return try body()
}
