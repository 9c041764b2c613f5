#if canImport(Glibc)
import Glibc
#endif

/// How a file ended its lines. Windows editors write CRLF, old Mac ones CR; a shell reads only
/// LF, but a user who edited `cluster.env` on a laptop means lines either way.
public enum LineEnding: String, Sendable, Hashable, Comparable {
    case lf = "LF"
    case crlf = "CRLF"
    case cr = "CR"

    public static func < (lhs: LineEnding, rhs: LineEnding) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A text file meshcap was given (a config file, passwd, group, resolv.conf), split into lines.
public struct InputText: Sendable {
    /// The path as given, or "stdin" for `-`: what messages call the file.
    public let name: String
    /// Without their line ends; a leading byte-order mark is gone.
    public let lines: [String]
    /// Each line's own end, one per line: nil only for a last line the file ends without one.
    /// Kept per line so that a file rewritten in place (`EnvFileEdit`) keeps every line's.
    public let lineEnds: [LineEnding?]
    public let hadByteOrderMark: Bool

    public init(name: String, lines: [String], lineEnds: [LineEnding?], hadByteOrderMark: Bool = false) {
        precondition(lines.count == lineEnds.count, "one line end per line")
        self.name = name
        self.lines = lines
        self.lineEnds = lineEnds
        self.hadByteOrderMark = hadByteOrderMark
    }

    /// The kinds of line end the file uses.
    public var lineEndings: Set<LineEnding> { Set(lineEnds.compactMap { $0 }) }

    /// Whether the file ends with a line end (or is empty): a file cut off inside its last line
    /// does not.
    public var endsWithLineEnd: Bool { lineEnds.last.map { $0 != nil } ?? true }

    /// The lines with LF ends, the last one's only if the file has it: for a reader that must tell
    /// a last line cut short from a whole one.
    public var textWithLF: String { lines.joined(separator: "\n") + (lines.isEmpty || !endsWithLineEnd ? "" : "\n") }
}

/// Reads the files meshcap is pointed at, refusing what would hang it or be misread: a FIFO with
/// no writer blocks `open(2)` forever, `/dev/zero` never ends, a directory or a binary file is
/// not a config. Only regular files (and standard input, when `-` is allowed) of at most
/// `sizeLimit` bytes are read.
public enum InputFile {
    /// Far above any real config (10,000 prefixes are ~200 KB), far below what hurts.
    public static let sizeLimit = 16 * 1024 * 1024

    /// - Parameters:
    ///   - role: what the file is, for messages ("config file", "passwd file").
    ///   - standardInput: whether `-` means standard input.
    ///   - strictText: refuse bytes that are not UTF-8 and NUL bytes, naming the line. Account
    ///     files are read leniently: only their name and ID fields matter, and an old GECOS field
    ///     in Latin-1 is no reason to refuse them.
    public static func read(_ path: String, role: String, standardInput: Bool = false,
                            strictText: Bool = true) throws(ConfigErrors) -> InputText {
        let name = standardInput && path == "-" ? "stdin" : path
        let bytes: [UInt8]
        do {
            bytes = try contents(path, role: role, standardInput: standardInput)
        } catch {
            throw ConfigErrors(errors: [error])
        }
        return try split(bytes, name: name, strictText: strictText)
    }

    /// A host file a check depends on (leniently, as `strictText: false`). A default one that
    /// does not exist is no file, nil (no sshd, no hosts file: sshd and the C library go on
    /// without them); one the user named, or any that exists and cannot be read, throws, and the
    /// caller says so instead of concluding anything from what it did not read.
    public static func read(_ path: String, role: String, given: Bool) throws(ConfigErrors) -> InputText? {
        if !given, access(path, F_OK) != 0, errno == ENOENT { return nil }
        return try read(path, role: role, strictText: false)
    }

    /// A file's bytes as they are (no text checks, no lines), with `read`'s refusals of what is
    /// not a regular file of at most `sizeLimit`.
    public static func contents(_ path: String, role: String, standardInput dash: Bool = false) throws(ConfigError) -> [UInt8] {
        var bytes: [UInt8] = []
        try stream(path, role: role, standardInput: dash, limit: sizeLimit) { bytes += $0 }
        return bytes
    }

    /// The file's bytes in chunks as they are read, after the same checks as `read` (a regular
    /// file, /dev/null, or standard input from a pipe; never a FIFO, a device or a directory):
    /// for inputs too large to hold, such as a cluster dump. Stops with an error past `limit` bytes.
    /// - Parameter dash: whether `-` means standard input.
    public static func stream(_ path: String, role: String, standardInput dash: Bool, limit: Int,
                              _ body: (ArraySlice<UInt8>) throws(ConfigError) -> Void) throws(ConfigError) {
        func failure(_ message: String) -> ConfigError { ConfigError(origin: nil, message: message) }
        let standardInput = dash && path == "-"
        let descriptor: Int32
        if standardInput {
            descriptor = 0
            if isatty(0) == 1 {
                throw failure("the \(role) - is standard input, which is a terminal; pipe or redirect the file into meshcap")
            }
        } else {
            // O_NONBLOCK: opening a FIFO that has no writer would otherwise wait forever. The
            // type is checked on the open descriptor, so the file cannot be swapped in between.
            descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
            guard descriptor >= 0 else { throw failure("cannot open the \(role) \(path): \(Errno.describe(errno))") }
        }
        defer { if !standardInput { close(descriptor) } }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw failure("cannot read the \(role) \(path): \(Errno.describe(errno))") }
        let type = status.st_mode & S_IFMT
        let pipe = type == S_IFIFO || type == S_IFSOCK
        // /dev/null (device 1:3) is what scripts pass for "nothing": it ends at once.
        let null = type == S_IFCHR && status.st_rdev == 0x103
        guard type == S_IFREG || null || (standardInput && pipe) else {
            let hint = type == S_IFIFO && dash ? "; to read a pipe, give \(role == "config file" ? "--config -" : "-") and redirect it to standard input" : ""
            throw failure("the \(role) \(standardInput ? "- (standard input)" : path) is \(kind(type)), not a regular file\(hint)")
        }
        if type == S_IFREG && Int(status.st_size) > limit {
            throw failure("the \(role) \(path) is \(status.st_size) bytes; meshcap reads at most \(size(limit))")
        }
        var total = 0
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw failure("cannot read the \(role) \(path): \(Errno.describe(errno))") }
            if count == 0 { return }
            total += count
            // A file can grow while it is read, and a pipe has no size to check up front.
            guard total <= limit else {
                throw failure("the \(role) \(standardInput ? "on standard input" : path) is larger than \(size(limit)); meshcap reads at most that")
            }
            try body(chunk[0..<count])
        }
    }

    /// The file's lines as they are read (LF or CRLF ends, a BOM dropped), for text too large to
    /// hold. Binary input (a NUL in the first 64 KiB: `/dev/zero` through a pipe) is refused at
    /// once instead of being read to the limit; so is a line longer than `lineLimit` (memory is
    /// bounded by it: a whole dump as one line of JSON is held, up to that).
    /// - Returns: whether the input ends with a line end (or is empty): one cut off inside its
    ///   last line does not.
    @discardableResult
    public static func streamLines(_ path: String, role: String, standardInput dash: Bool, limit: Int, lineLimit: Int = 64 * 1024 * 1024,
                                   _ body: (ArraySlice<UInt8>) -> Void) throws(ConfigError) -> Bool {
        var pending: [UInt8] = []
        var lines = 0
        func tooLong(_ line: Int) -> ConfigError {
            ConfigError(origin: nil, message: "the \(role) \(dash && path == "-" ? "on standard input" : path): line \(line) is longer than \(size(lineLimit)); meshcap reads lines up to that")
        }
        var checked = 0
        var first = true
        try stream(path, role: role, standardInput: dash, limit: limit) { chunk throws(ConfigError) in
            if checked < 64 * 1024, let nul = chunk.prefix(64 * 1024 - checked).firstIndex(of: 0) {
                // UTF-16 (what PowerShell's `>` writes) has a NUL in every ASCII character.
                let utf16 = checked == 0 && (chunk.starts(with: [0xff, 0xfe]) || chunk.starts(with: [0xfe, 0xff]))
                let why = utf16 ? "it is UTF-16, not UTF-8: convert it first (iconv -f UTF-16 -t UTF-8)" : "it is binary, not text"
                throw ConfigError(origin: nil, message: "the \(role) \(dash && path == "-" ? "on standard input" : path) has a NUL byte at byte \(checked + nul - chunk.startIndex + 1): \(why)")
            }
            checked += chunk.count
            var start = chunk.startIndex
            if first {
                first = false
                if chunk.starts(with: [0xef, 0xbb, 0xbf]) { start += 3 }
            }
            while let newline = chunk.withUnsafeBufferPointer({ bytes -> Int? in
                // memchr: a dump of hundreds of MiB is split here.
                guard start < chunk.endIndex, let found = memchr(bytes.baseAddress! + (start - chunk.startIndex), 0x0a, chunk.endIndex - start) else { return nil }
                return chunk.startIndex + (UnsafeRawPointer(found) - UnsafeRawPointer(bytes.baseAddress!))
            }) {
                var line = pending.isEmpty ? chunk[start..<newline] : ArraySlice(pending + chunk[start..<newline])
                if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                guard line.count <= lineLimit else { throw tooLong(lines + 1) }
                body(line)
                lines += 1
                pending.removeAll(keepingCapacity: true)
                start = newline + 1
            }
            pending += chunk[start...]
            guard pending.count <= lineLimit else { throw tooLong(lines + 1) }
        }
        guard !pending.isEmpty else { return true }
        let carriageReturn = pending.last == UInt8(ascii: "\r")
        body(carriageReturn ? pending.dropLast() : pending[...])
        return carriageReturn
    }

    /// "16 MiB", or bytes for a limit that is no whole number of MiB.
    static func size(_ bytes: Int) -> String {
        bytes % (1024 * 1024) == 0 ? "\(bytes / 1024 / 1024) MiB" : "\(bytes) bytes"
    }

    /// "a directory", "a FIFO": what a file of this type (`st_mode & S_IFMT`) is, for refusals.
    public static func kind(_ type: mode_t) -> String {
        switch type {
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "not a file"
        }
    }

    static func split(_ bytes: [UInt8], name: String, strictText: Bool) throws(ConfigErrors) -> InputText {
        let (text, errors) = lines(bytes, name: name, strictText: strictText)
        guard errors.isEmpty else { throw ConfigErrors(errors: errors) }
        return text
    }

    /// Text already in memory (a saved dump handed over as a string), split as a file's lines are.
    public static func lines(of text: String, name: String) -> InputText {
        lines(Array(text.utf8), name: name, strictText: false).text
    }

    /// Lines end at LF, CRLF or CR. Scanned as bytes: a Swift `Character` holds "\r\n" as one
    /// grapheme, so splitting a String on "\n" would leave a CRLF file as one long line.
    static func lines(_ bytes: [UInt8], name: String, strictText: Bool) -> (text: InputText, errors: [ConfigError]) {
        let bom: [UInt8] = [0xef, 0xbb, 0xbf]
        let hadByteOrderMark = bytes.starts(with: bom)
        var lines: [String] = []
        var ends: [LineEnding?] = []
        var errors: [ConfigError] = []
        var start = hadByteOrderMark ? 3 : 0
        var index = start
        func take(_ end: Int) {
            let line = bytes[start..<end]
            let number = lines.count + 1
            if strictText, let problem = textProblem(line) {
                errors.append(ConfigError(origin: .file(path: name, line: number), message: problem))
                lines.append("")
            } else {
                lines.append(String(decoding: line, as: UTF8.self))
            }
        }
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\n"):
                take(index)
                ends.append(.lf)
                index += 1
            case UInt8(ascii: "\r"):
                take(index)
                let crlf = index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "\n")
                ends.append(crlf ? .crlf : .cr)
                index += crlf ? 2 : 1
            default:
                index += 1
                continue
            }
            start = index
        }
        if start < bytes.count {
            take(bytes.count)
            ends.append(nil)
        }
        return (InputText(name: name, lines: lines, lineEnds: ends, hadByteOrderMark: hadByteOrderMark), errors)
    }

    /// Why a line cannot be read as text, or nil.
    static func textProblem(_ line: ArraySlice<UInt8>) -> String? {
        if let nul = line.firstIndex(of: 0) {
            return "a NUL byte at byte \(nul - line.startIndex + 1) of the line; the file is binary or corrupt"
        }
        // ASCII is UTF-8: a 10,000-prefix line need not be decoded scalar by scalar.
        if line.allSatisfy({ $0 < 0x80 }) { return nil }
        var iterator = line.makeIterator()
        var decoder = UTF8()
        var offset = 0
        var scalarStart = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                scalarStart = offset + UTF8.width(scalar)
                offset = scalarStart
            case .emptyInput:
                return nil
            case .error:
                let byte = line[line.startIndex + scalarStart]
                return "not UTF-8: byte 0x\(String(byte, radix: 16, uppercase: true)) at byte \(scalarStart + 1) of the line; save the file as UTF-8"
            }
        }
    }
}
