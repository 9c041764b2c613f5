#if canImport(Glibc)
import Glibc
#endif

/// Whole-file writes on the C library (reads: `InputFile`). meshcap links no Foundation: in a statically
/// linked binary its conformance records make every first protocol lookup (ArgumentParser does
/// hundreds at start-up) scan megabytes, which cost more than the work itself.
public enum TextFile {
    /// Writes `text` to a new file beside `path` (same directory, so a rename can put it in
    /// place), flushed to disk; returns its name. The name is not guessable and the file is made
    /// new (O_EXCL), so nobody can have it open already when it is renamed into place.
    public static func writeBeside(_ path: String, _ text: String, mode: mode_t = 0o644) throws(HostError) -> String {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var temporary = ""
        var descriptor: Int32 = -1
        for _ in 0..<8 {
            temporary = "\(directory).\(name).meshcap-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
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

    /// Replaces the file at `path` with `text` in one rename, so a reader sees the old file or the
    /// new one, never half of one. An existing file keeps its mode and owner, and a symbolic link
    /// stays one: the file it points to is replaced.
    public static func replace(_ path: String, with text: String) throws(HostError) {
        var target = path
        var link = stat()
        if lstat(path, &link) == 0 && (link.st_mode & S_IFMT) == S_IFLNK {
            guard let resolved = realpath(path, nil) else {
                throw HostError("\(path) is a symbolic link to a file that does not exist (or cannot be reached); nothing was written", errno: errno)
            }
            target = String(cString: resolved)
            free(resolved)
        }
        var status = stat()
        let exists = stat(target, &status) == 0
        // Private until it has the old file's mode and owner.
        let temporary = try writeBeside(target, text, mode: exists ? 0o600 : 0o644)
        if exists {
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
