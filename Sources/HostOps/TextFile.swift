#if canImport(Glibc)
import Glibc
#endif
import MeshCapture

/// Whole-file writes on the C library (reads: `InputFile`, in MeshCapture). meshcap links no
/// Foundation: in a statically linked binary its conformance records make every first protocol
/// lookup scan megabytes, which cost more than the work itself (README § How it is built).
///
/// meshcap writes only regular files. A write puts a new file in place with a rename, which would
/// turn `/dev/null`, a FIFO another program reads, or a socket into a plain file, so anything but
/// a regular file (or a path where nothing is yet) is refused before a byte is written, and a
/// symbolic link is written through only to the regular file it names.
public enum TextFile {
    /// Where a write to a path puts its bytes, checked before anything is written. (Checked, not
    /// locked: a device put at the path between the check and the rename would still be replaced,
    /// as by any program that writes files this way.)
    public struct Destination {
        /// The path as given, for messages.
        public let path: String
        /// The file itself: `path`, or the regular file the symbolic link at `path` names.
        public let file: String
        /// The file's mode and owner, kept by the new file; nil when there is no file yet.
        public let existing: stat?

        /// - Throws: `ConfigError` (exit 2) for anything but a regular file, a symbolic link to
        ///   one, or a path where nothing exists; `HostError` when the path cannot be looked at.
        public init(_ path: String) throws {
            self.path = path
            func refuse(_ what: String) -> ConfigError {
                ConfigError(origin: nil, message: "\(path) is \(what); meshcap writes only regular files: allowed: a regular file, a symbolic link to one, or a path where nothing exists yet; nothing was written")
            }
            var status = stat()
            guard lstat(path, &status) == 0 else {
                guard errno == ENOENT else { throw HostError("cannot look at \(path)", errno: errno) }
                file = path
                existing = nil
                return
            }
            switch status.st_mode & S_IFMT {
            case S_IFREG:
                file = path
            case S_IFLNK:
                guard let resolved = realpath(path, nil) else {
                    throw refuse("a symbolic link to a file that does not exist or cannot be reached (\(Errno.describe(errno)))")
                }
                file = String(cString: resolved)
                free(resolved)
                guard stat(file, &status) == 0 else { throw HostError("cannot look at \(file), which \(path) links to", errno: errno) }
                guard status.st_mode & S_IFMT == S_IFREG else {
                    throw refuse("a symbolic link to \(file), which is \(InputFile.kind(status.st_mode & S_IFMT))")
                }
            case let type:
                throw refuse(InputFile.kind(type))
            }
            existing = status
        }
    }

    /// Replaces the file at `path` with `text` in one rename, so a reader sees the old file or the
    /// new one, never half of one. An existing file keeps its mode and owner, and a symbolic link
    /// stays one: the file it points to is replaced.
    public static func replace(_ path: String, with text: String) throws {
        try replace(Destination(path), with: text)
    }

    /// As `replace(_:with:)`, to a destination checked already (by a caller that read it first).
    public static func replace(_ destination: Destination, with text: String) throws(HostError) {
        // From the temporary file to its rename or removal.
        try SignalDeferral.run { () throws(HostError) in try replaceHeld(destination, with: text) }
    }

    static func replaceHeld(_ destination: Destination, with text: String) throws(HostError) {
        let target = destination.file
        // Private until it has the old file's mode and owner.
        let temporary = try writeBeside(target, text, mode: destination.existing == nil ? 0o644 : 0o600)
        if let status = destination.existing {
            guard chown(temporary, status.st_uid, status.st_gid) == 0 || geteuid() != 0,
                  chmod(temporary, status.st_mode & 0o7777) == 0 else {
                let code = errno
                unlink(temporary)
                throw HostError("cannot give \(temporary) the mode and owner of \(target)", errno: code)
            }
        }
        guard rename(temporary, target) == 0 else {
            let code = errno
            unlink(temporary)
            throw HostError("cannot rename \(temporary) to \(target)", errno: code)
        }
    }

    /// Writes `text` to a new file beside `path` (same directory, so a rename can put it in
    /// place), flushed to disk; returns its name. The name is not guessable and the file is made
    /// new (O_EXCL), so nobody can have it open already when it is renamed into place. The
    /// caller holds the stop signals back (`SignalDeferral`) until the file is renamed or removed. What a killed run
    /// left beside `path` is removed first (`removeStale`).
    public static func writeBeside(_ path: String, _ text: String, mode: mode_t = 0o644) throws(HostError) -> String {
        removeStale(beside: path)
        var temporary = ""
        var descriptor: Int32 = -1
        for _ in 0..<8 {
            temporary = beside(path, tag: String(UInt64.random(in: 0...UInt64.max), radix: 36))
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
            if descriptor >= 0 || errno != EEXIST { break }
        }
        guard descriptor >= 0 else { throw HostError("cannot create \(temporary)", errno: errno) }
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                let code = errno
                close(descriptor)
                unlink(temporary)
                throw HostError("cannot write \(temporary)", errno: code)
            }
            bytes = bytes.dropFirst(written)
        }
        guard fsync(descriptor) == 0, close(descriptor) == 0 else {
            let code = errno
            unlink(temporary)
            throw HostError("cannot write \(temporary)", errno: code)
        }
        return temporary
    }

    /// `DIR/.NAME.meshcap-PID-TAG` for `DIR/NAME`: a file kept beside another while that one is
    /// replaced (in its directory, so a rename or a hard link stays on its file system), named
    /// by the process that keeps it so that one left by a killed run can be told from one in use.
    public static func beside(_ path: String, tag: String) -> String {
        let (directory, name) = split(path)
        return "\(directory).\(name).meshcap-\(getpid())-\(tag)"
    }

    /// Removes the files `beside` named for `path` by processes that are no longer running: a
    /// run killed (SIGKILL, a power cut) between making them and renaming or removing them.
    /// A process of another PID namespace writing the same directory looks gone too; its rename
    /// then fails and it says so, with the file it was replacing untouched.
    static func removeStale(beside path: String) {
        let (directory, name) = split(path)
        let prefix = Array(".\(name).meshcap-".utf8)
        for entryName in entries(of: directory.isEmpty ? "." : directory) {
            guard entryName.starts(with: prefix) else { continue }
            let digits = entryName.dropFirst(prefix.count).prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            guard !digits.isEmpty, entryName.dropFirst(prefix.count + digits.count).first == UInt8(ascii: "-"),
                  let process = pid_t(String(decoding: digits, as: UTF8.self)), process != getpid(),
                  kill(process, 0) != 0, errno == ESRCH else { continue }
            unlink(directory + String(decoding: entryName, as: UTF8.self))
        }
    }

    /// The names in a directory, as bytes (a name need not be UTF-8), "." and ".." among them;
    /// none when it cannot be read.
    public static func entries(of directory: String) -> [[UInt8]] {
        guard let stream = opendir(directory) else { return [] }
        defer { closedir(stream) }
        var names: [[UInt8]] = []
        while let entry = readdir(stream) {
            names.append(withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) })
        }
        return names
    }

    /// The directory a path is in, for flushing it after a rename.
    public static func directory(of path: String) -> String {
        let directory = split(path).directory
        return directory.isEmpty ? "." : directory
    }

    /// The directory part with its slash ("" for a bare name), and the name.
    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        return (String(path[...slash]), String(path[path.index(after: slash)...]))
    }

    /// Flushes a directory's entries: a rename reaches the disk only then (on tmpfs, such as /run,
    /// there is no disk, and this does nothing).
    public static func syncDirectory(_ directory: String) {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }

    /// `mkdir -p`: the errno of the first directory that could not be made.
    public static func makeDirectories(_ path: String) -> Int32? {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component + "/"
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST { return errno }
        }
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR ? nil : ENOTDIR
    }

    /// To standard error, without buffering.
    public static func standardError(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
