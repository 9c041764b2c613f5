#if canImport(Glibc)
import Glibc
#endif

/// Whole-file reads and writes on the C library. meshcap links no Foundation: in a statically
/// linked binary its conformance records make every first protocol lookup (ArgumentParser does
/// hundreds at start-up) scan megabytes, which cost more than the work itself.
public enum TextFile {
    /// The file's text, or nil if it cannot be read or is not UTF-8.
    public static func read(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { break }
            bytes += chunk[0..<count]
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Writes `text` beside `path` and renames it into place: readers see the old file or the
    /// new one, never half of one. Returns the errno of the step that failed.
    public static func replace(_ path: String, with text: String) -> (step: String, errno: Int32)? {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temporary = "\(directory).\(name).meshcap-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return ("create \(temporary)", errno) }
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                let code = errno
                close(descriptor)
                unlink(temporary)
                return ("write \(temporary)", code)
            }
            bytes = bytes.dropFirst(written)
        }
        guard fsync(descriptor) == 0, close(descriptor) == 0 else {
            let code = errno
            unlink(temporary)
            return ("write \(temporary)", code)
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            return ("rename \(temporary) to \(path)", code)
        }
        return nil
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
    public static func writeError(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
