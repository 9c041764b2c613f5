#if canImport(Glibc)
import Glibc
#endif
import MeshCapture

/// This process: the binary it runs, started again as a child, the user it runs as, and what the
/// kernel lets it do. `doctor` and `verify --probe` hand what must happen as another user or in
/// another network namespace to a child of this binary (`kernel-probe`, `resolve-names`,
/// `probe-connect`), which drops to that user itself (`become`).
public enum SelfProcess {
    /// This binary (/proc/self/exe), for the children; argv[0] where /proc is not mounted.
    public static var executable: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return length > 0 ? String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    }

    /// Runs this binary with `arguments` and waits for it, as `Command.run` runs any program.
    public static func run(_ arguments: [String]) throws(HostError) -> CommandResult {
        try Command.run(executable, arguments)
    }

    /// Whether CAP_NET_ADMIN (bit 12) is in this process's effective set, from CapEff in
    /// /proc/self/status; false when that cannot be read.
    public static var hasNetAdmin: Bool {
        let status = (try? InputFile.read("/proc/self/status", role: "process status", strictText: false))?.lines ?? []
        let effective = status.first { $0.hasPrefix("CapEff:") }.flatMap { UInt64($0.dropFirst(7).drop { $0 == "\t" || $0 == " " }, radix: 16) } ?? 0
        return effective & (1 << 12) != 0
    }

    /// Becomes group `gid` (with no supplementary groups), then user `uid`; either may be left as
    /// it is. The group first: once the user is not root, the group cannot change.
    public static func become(uid: UInt32?, gid: UInt32?) throws(HostError) {
        if let gid, setgroups(0, nil) != 0 || setgid(gid) != 0 { throw HostError("cannot become group \(gid)", errno: errno) }
        if let uid, setuid(uid) != 0 { throw HostError("cannot become user \(uid)", errno: errno) }
    }
}
