#if canImport(Glibc)
import Glibc
#endif
import MeshCapture
import NftablesBackend

/// What meshcap keeps about one network namespace between runs, in /run/meshcap/netns-ID/:
///
/// - `intent`: written before an apply or clean changes anything and removed after its last
///   change. Found by a later run, the operation was interrupted (SIGKILL, a crash, power cut in
///   the middle of a multi-table iptables apply or of the policy routing) and the rules may be
///   neither the old config's nor the new one's: `verify` says so (exit 1), `apply` and `clean`
///   say so and complete it.
/// - `target.env`: the config an apply in flight puts in force, so that a plain `meshcap apply`
///   can complete an interrupted one.
/// - `applied.env`: the config the last completed apply put in force (`InterceptConfig.record`,
///   and the Istio keys that choose its backend): what `verify` and `diff` compare with when
///   given no config, and a plain `apply` puts back.
/// - `failed`: why the last apply failed (and was taken back): the rules in force are those before
///   it, which verify would call healthy, though the config asked for is not in force. Removed by
///   the next apply or clean that ends.
/// - `made`: tables iptables-nft created for meshcap's rules (`ip mangle` ...), which clean
///   deletes once they are empty: each is a base chain on a hook that every packet traverses.
///
/// /run lives as long as the kernel's rules (both go at reboot). A namespace deleted without a
/// clean (a pod, a test) leaves its directory behind: the first apply in a new namespace removes
/// those of namespaces that are gone (`pruneGone`). ID is the namespace's cookie, which the
/// kernel never gives to another namespace while it runs, then its inode, by which a namespace
/// still in use is found (a process in it, or a mount of it such as /run/netns/NAME).
public struct Journal: Sendable {
    public static let root = "/run/meshcap"
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// The journal of the network namespace this thread is in.
    public static func here() -> Journal {
        let namespace = NamespaceIdentity.current
        return Journal(directory: "\(root)/netns-\(namespace.cookie).\(namespace.inode)")
    }

    var intentPath: String { "\(directory)/intent" }
    var targetPath: String { "\(directory)/target.env" }
    var appliedPath: String { "\(directory)/applied.env" }
    var madePath: String { "\(directory)/made" }
    var failedPath: String { "\(directory)/failed" }

    /// An operation that began changing the rules.
    public struct Intent: Sendable, Equatable, CustomStringConvertible {
        public enum Operation: String, Sendable { case apply, clean }
        /// nil when the file could not be read: an operation did not end, which one is unknown.
        public let operation: Operation?
        /// The host it worked through ("nft", "iptables-nft"), or "every backend" for clean.
        public let backend: String
        public let pid: Int32
        /// Seconds since 1970, UTC.
        public let started: Int

        /// "an apply with nft (meshcap pid 1234, started 2026-12-06 20:01:05 UTC)".
        public var description: String {
            guard let operation else { return "an operation whose journal cannot be read" }
            return "\(operation == .apply ? "an apply" : "a clean") with \(backend) (meshcap pid \(pid), started \(Self.utc(started)))"
        }

        static func utc(_ seconds: Int) -> String {
            var time = time_t(seconds), parts = tm()
            gmtime_r(&time, &parts)
            var buffer = [CChar](repeating: 0, count: 32)
            let length = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M:%S UTC", &parts)
            return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// The operation that began and has not ended (interrupted, or running right now: the
    /// namespace's `HostLock` tells which); nil when every one ended.
    public func intent() -> Intent? {
        guard access(intentPath, F_OK) == 0 else { return nil }
        let unknown = Intent(operation: nil, backend: "", pid: 0, started: 0)
        guard let text = try? InputFile.read(intentPath, role: "meshcap's journal"),
              case .success(let settings) = EnvFile.parse(text) else { return unknown }
        let values = Dictionary(settings.map { ($0.key, $0.value) }) { _, last in last }
        guard let operation = values["OPERATION"].flatMap(Intent.Operation.init), let backend = values["BACKEND"],
              let pid = values["PID"].flatMap({ Int32($0) }), let started = values["STARTED"].flatMap({ Int($0) }) else { return unknown }
        return Intent(operation: operation, backend: backend, pid: pid, started: started)
    }

    /// Why the last apply failed, and when; nil when the last one that ended did not fail.
    public var failure: String? {
        guard let text = try? InputFile.read(failedPath, role: "meshcap's journal") else { return nil }
        return text.lines.joined(separator: " ")
    }

    /// The config an interrupted apply was putting in force. Without an intent it is the leftover
    /// of a run killed before it wrote its intent, which changed nothing: not a target at all.
    public var target: String? { access(intentPath, F_OK) == 0 && access(targetPath, F_OK) == 0 ? targetPath : nil }
    /// The config the last completed apply put in force.
    public var applied: String? { access(appliedPath, F_OK) == 0 ? appliedPath : nil }

    /// iptables-nft tables created for meshcap's rules and not deleted since.
    public var made: [MadeTable] {
        guard let text = try? InputFile.read(madePath, role: "meshcap's journal") else { return [] }
        return text.lines.compactMap(MadeTable.init)
    }

    /// The record of a config as applied through `host`: `applied.env`'s and `target.env`'s text.
    public static func record(_ config: InterceptConfig, host: any FirewallHost) -> String {
        let lines = (config.record + host.choosingKeys).map { EnvFile.assignment($0.key, $0.value) }
        // No date in it: an apply that changes nothing leaves the file as it is (its mtime says when).
        return (["# meshcap: the config applied with \(host.name), as meshcap recorded it; `meshcap verify` and `meshcap diff` compare with it."]
                + lines).joined(separator: "\n") + "\n"
    }

    /// Records `record` as the applied config when it is not that already: for an apply that
    /// changes nothing (rules an earlier meshcap applied, or somebody with the same result).
    public func record(_ record: String) throws(HostError) {
        // Bytes against bytes: with 10,000 prefixes the record is 160 kB, read on every apply.
        if let applied, let bytes = try? InputFile.contents(applied, role: "meshcap's journal"), bytes.elementsEqual(record.utf8) { return }
        try makeDirectory()
        try put(record, at: appliedPath)
    }

    /// Written before the first change: the intent last, so that whenever it is found, what it
    /// points to is complete. `made` grows before the tables are made, so none is forgotten.
    public func begin(_ operation: Intent.Operation, backend: String, target record: String?, making tables: [MadeTable]) throws(HostError) {
        try makeDirectory()
        if let record { try put(record, at: targetPath) }
        let known = made
        let more = tables.filter { !known.contains($0) }
        if !more.isEmpty { try put((known + more).map(\.description).joined(separator: "\n") + "\n", at: madePath) }
        let intent = """
            # meshcap: \(operation == .apply ? "an apply" : "a clean") in progress. Removed when it made its last change;
            # found later, it was interrupted and the rules may be half changed: `meshcap verify` says so,
            # and `meshcap \(operation.rawValue)` completes it.
            OPERATION=\(operation.rawValue)
            BACKEND='\(backend)'
            PID=\(getpid())
            STARTED=\(time(nil))

            """
        try put(intent, at: intentPath)
    }

    /// After the last change: an apply's target becomes the applied config; a clean that removed
    /// the applied config's rules (`forgetting`) forgets it, and the directory goes when empty.
    public func complete(_ operation: Intent.Operation, forgetting: Bool = false) throws(HostError) {
        switch operation {
        case .apply:
            if rename(targetPath, appliedPath) != 0 && errno != ENOENT { throw HostError("cannot rename \(targetPath) to \(appliedPath)", errno: errno) }
        case .clean:
            if forgetting { try remove(appliedPath) }
            try remove(targetPath)
        }
        try remove(failedPath)
        try remove(intentPath)
        syncDirectory()
        // Only when nothing is left in it (rmdir refuses otherwise).
        rmdir(directory)
    }

    /// After a failure that left the rules as they were before this run: its intent and target
    /// go, unless an earlier interrupted operation's were there before (the rules are still
    /// that one's half, so the journal must go on saying so).
    ///
    /// - Parameter failure: an apply's error, kept as `failed` (said by verify until an apply or
    ///   clean ends).
    public func abandon(earlier: Intent?, failure: String?) {
        if let failure { try? put("an apply that started \(Intent.utc(time(nil))) failed: \(failure)\n", at: failedPath) }
        guard earlier == nil else { return }
        unlink(targetPath)
        unlink(intentPath)
        syncDirectory()
        rmdir(directory)
    }

    /// Tables deleted since they were recorded.
    public func forget(_ tables: [MadeTable]) throws(HostError) {
        guard !tables.isEmpty else { return }
        let left = made.filter { !tables.contains($0) }
        if left.isEmpty { try remove(madePath) } else { try put(left.map(\.description).joined(separator: "\n") + "\n", at: madePath) }
    }

    /// The backend named in `applied.env` (by the Istio keys `record` writes).
    public var appliedBackend: String? {
        guard let applied, let text = try? InputFile.read(applied, role: "meshcap's journal"),
              case .success(let settings) = EnvFile.parse(text) else { return nil }
        if settings.contains(where: { $0.key == "NATIVE_NFTABLES" }) { return "nft" }
        return settings.last { $0.key == "FORCE_IPTABLES_BINARY" }.map { "iptables-\($0.value)" }
    }

    func makeDirectory() throws(HostError) {
        var parent = TextFile.directory(of: directory)
        if parent.count > 1 && parent.hasSuffix("/") { parent.removeLast() }
        for path in [parent, directory] {
            if mkdir(path, 0o755) == 0 {
                // A namespace's first journal: the time to forget those of namespaces gone since.
                if path == directory && parent == Self.root { Self.pruneGone() }
                continue
            }
            let code = errno
            if code == EEXIST { continue }
            throw HostError(code == EACCES || code == EPERM || code == EROFS
                ? "changing rules needs root (CAP_NET_ADMIN), and nothing was changed: cannot create \(path) for meshcap's journal"
                : "cannot create \(path) for meshcap's journal; nothing was changed", errno: code)
        }
    }

    /// Removes the journals of network namespaces that are gone: no process is in one, and no
    /// mount holds it (`ip netns add` bind-mounts its namespaces under /run/netns, container
    /// runtimes elsewhere; /proc/self/mountinfo lists every nsfs mount). A namespace kept alive
    /// only by an open descriptor or a socket looks gone too; its journal then goes, and its
    /// next apply starts a new one. The lock files meshcap 0.2 kept here (`netns-INODE.lock`,
    /// never removed) go the same way.
    static func pruneGone() {
        let journals = TextFile.entries(of: root).compactMap { bytes -> (name: String, inode: UInt64)? in
            let name = String(decoding: bytes, as: UTF8.self)
            guard name.hasPrefix("netns-") else { return nil }
            if name.hasSuffix(".lock") { return UInt64(name.dropFirst(6).dropLast(5)).map { (name, $0) } }
            guard let dot = name.lastIndex(of: "."), let inode = UInt64(name[name.index(after: dot)...]) else { return nil }
            return (name, inode)
        }
        guard !journals.isEmpty else { return }
        var alive = Set<UInt64>()
        // "net:[4026531840]", as the namespace links and mountinfo's root field write it.
        func inode(_ text: Substring) -> UInt64? {
            guard text.hasPrefix("net:["), text.hasSuffix("]") else { return nil }
            return UInt64(text.dropFirst(5).dropLast())
        }
        for process in TextFile.entries(of: "/proc") where !process.isEmpty && process.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            var buffer = [CChar](repeating: 0, count: 64)
            let length = readlink("/proc/\(String(decoding: process, as: UTF8.self))/ns/net", &buffer, buffer.count - 1)
            guard length > 0 else { continue }
            if let found = inode(Substring(String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self))) { alive.insert(found) }
        }
        guard !alive.isEmpty, let mounts = try? InputFile.read("/proc/self/mountinfo", role: "mount table", strictText: false) else { return }
        for line in mounts.lines {
            let fields = line.split(separator: " ")
            if fields.count > 3, let found = inode(fields[3]) { alive.insert(found) }
        }
        for journal in journals where !alive.contains(journal.inode) {
            let path = "\(root)/\(journal.name)"
            if journal.name.hasSuffix(".lock") {
                unlink(path)
                continue
            }
            for file in TextFile.entries(of: path) where file != Array(".".utf8) && file != Array("..".utf8) {
                unlink("\(path)/\(String(decoding: file, as: UTF8.self))")
            }
            rmdir(path)
        }
    }

    /// Replaced in one rename, flushed: a kill leaves the old file or the new one.
    func put(_ text: String, at path: String) throws(HostError) {
        let temporary = try TextFile.writeBeside(path, text)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw HostError("cannot rename \(temporary) to \(path)", errno: code)
        }
        syncDirectory()
    }

    func remove(_ path: String) throws(HostError) {
        if unlink(path) != 0 && errno != ENOENT { throw HostError("cannot remove \(path)", errno: errno) }
    }

    /// The directory's entries on disk (/run is tmpfs, where this does nothing: a crash of the
    /// kernel takes the rules with it).
    func syncDirectory() { TextFile.syncDirectory(directory) }
}

/// The kernel's names for the network namespace this thread is in: its cookie (SO_NETNS_COOKIE,
/// Linux 5.14), never reused while the machine runs ("i" and the inode before 5.14), and the
/// inode of its nsfs file, which processes' links and mounts name it by.
enum NamespaceIdentity {
    static let cookieOption: Int32 = 71

    /// Any socket answers for the namespace it was opened in; a netlink one is what meshcap opens anyway.
    static var current: (cookie: String, inode: UInt64) {
        var status = stat()
        let inode = stat(HostLock.namespaceFile, &status) == 0 ? UInt64(status.st_ino) : 0
        if let socket = try? NetlinkConnection.socket() {
            var cookie: UInt64 = 0
            var length = socklen_t(MemoryLayout<UInt64>.size)
            if getsockopt(socket.descriptor, SOL_SOCKET, cookieOption, &cookie, &length) == 0 { return (String(cookie), inode) }
        }
        return ("i\(inode)", inode)
    }
}
