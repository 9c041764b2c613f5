import Foundation

/// Files meshcap must never write over (a rename would turn each into a plain file), made in a
/// directory: what each is, as meshcap's refusal names it. Needs root for the device node.
public struct SpecialFiles {
    public let entries: [(path: String, kind: String)]

    /// `null` (the character device 1:3, as `mknod ./null c 1 3` makes it), `fifo`, `socket`,
    /// `directory`, and symbolic links to the device, to the directory and to nothing.
    public init(in directory: URL) throws {
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        guard mknod(path("null"), S_IFCHR | 0o666, 0x103) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        guard mkfifo(path("fifo"), 0o600) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        try Self.bindSocket(path("socket"))
        try FileManager.default.createDirectory(atPath: path("directory"), withIntermediateDirectories: false)
        for (link, target) in [("link-to-null", "null"), ("link-to-directory", "directory"), ("link-to-nothing", "gone")] {
            guard symlink(path(target), path(link)) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        }
        let real = directory.resolvingSymlinksInPath().path
        entries = [
            (path("null"), "a character device"), (path("fifo"), "a FIFO"), (path("socket"), "a socket"),
            (path("directory"), "a directory"),
            (path("link-to-null"), "a symbolic link to \(real)/null, which is a character device"),
            (path("link-to-directory"), "a symbolic link to \(real)/directory, which is a directory"),
            (path("link-to-nothing"), "a symbolic link to a file that does not exist or cannot be reached"),
        ]
    }

    /// What is at `path`, enough to tell whether it was replaced: its type, inode, device number
    /// and, for a link, where it points.
    public static func identity(_ path: String) -> String {
        var status = stat()
        guard lstat(path, &status) == 0 else { return "nothing" }
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? ""
        return "type \(status.st_mode & S_IFMT) inode \(status.st_ino) rdev \(status.st_rdev) \(target)"
    }

    static func bindSocket(_ path: String) throws {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.prefix(buffer.count - 1).enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
    }
}
