#if canImport(Glibc)
import Glibc
#endif
import MeshCapture

// glibc declares memfd_create only under _GNU_SOURCE, which Swift's Glibc module does not set.
@_silgen_name("memfd_create") private func memfdCreate(_ name: UnsafePointer<CChar>, _ flags: UInt32) -> Int32

/// What a program printed and how it ended.
public struct CommandResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs the host's own tools (iptables-restore, iptables-save). Standard input, output and error
/// are anonymous in-memory files (memfd), not pipes: nothing to pump while the child runs, and no
/// deadlock whatever it prints.
public enum Command {
    /// Where programs are looked for when PATH lacks the sbin directories (as under sudo or cron).
    static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]

    public static func locate(_ program: String) -> String? {
        if program.hasPrefix("/") { return access(program, X_OK) == 0 ? program : nil }
        let path = (getenv("PATH").map { String(cString: $0) } ?? "").split(separator: ":").map(String.init)
        for directory in path + searchPath where access("\(directory)/\(program)", X_OK) == 0 {
            return "\(directory)/\(program)"
        }
        return nil
    }

    public static func run(_ program: String, _ arguments: [String], input: String = "") throws(HostError) -> CommandResult {
        guard let executable = locate(program) else {
            throw HostError("\(program) is not installed, or not on PATH", errno: ENOENT)
        }
        let stdin = try memoryFile("stdin")
        defer { close(stdin) }
        let stdout = try memoryFile("stdout")
        defer { close(stdout) }
        let stderr = try memoryFile("stderr")
        defer { close(stderr) }
        try write(input, to: stdin)
        lseek(stdin, 0, SEEK_SET)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (descriptor, target) in [(stdin, Int32(0)), (stdout, 1), (stderr, 2)] {
            posix_spawn_file_actions_adddup2(&actions, descriptor, target)
        }
        // The child starts with no signal blocked and every signal at its default: iptables-restore
        // bounds its wait for the xtables lock with SIGALRM, which a mask inherited from meshcap's
        // caller (a test runner, a supervisor) would turn into a wait without end.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard spawned == 0 else { throw HostError("cannot run \(executable)", errno: spawned) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw HostError("cannot wait for \(executable)", errno: errno) }
        }
        // WIFEXITED / WEXITSTATUS, which Swift does not import as macros.
        let exited = status & 0x7f == 0
        return CommandResult(status: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f),
                             stdout: try read(stdout), stderr: try read(stderr))
    }

    static func memoryFile(_ name: String) throws(HostError) -> Int32 {
        let descriptor = memfdCreate(name, 1 /* MFD_CLOEXEC */)
        guard descriptor >= 0 else { throw HostError("cannot create an in-memory file", errno: errno) }
        return descriptor
    }

    static func write(_ text: String, to descriptor: Int32) throws(HostError) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw HostError("cannot write a command's input", errno: errno) }
            bytes = bytes.dropFirst(written)
        }
    }

    static func read(_ descriptor: Int32) throws(HostError) -> String {
        lseek(descriptor, 0, SEEK_SET)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw HostError("cannot read a command's output", errno: errno) }
            if count == 0 { return String(decoding: bytes, as: UTF8.self) }
            bytes += chunk[0..<count]
        }
    }
}
