#if canImport(Glibc)
import Glibc
#endif

/// meshcap's exit codes, as its CLI contract states them.
public enum ExitStatus: Int32, Sendable, CaseIterable {
    case ok = 0
    /// `verify` found a problem, `diff` found drift.
    case problemFound = 1
    case badInput = 2
    case hostError = 3

    /// What the code tells a caller, as `meshcap --help` and the man page say it.
    public var meaning: String {
        switch self {
        case .ok: "Done; for verify and doctor, nothing found wrong; for diff, no drift."
        case .problemFound: "verify or doctor found a problem (an interrupted apply, no capture, drift ...), or diff found drift: what was found is printed."
        case .badInput: "Bad input: a config key, value, flag or file meshcap cannot use (named, with what is allowed). Nothing was changed."
        case .hostError: "The host refused or failed: not root, a kernel refusal, a loader's error, a lock held past --wait. A failed change is taken back, and the error says what is in force."
        }
    }
}

/// An error `main` can report: what to say (one line each, without the "meshcap: " prefix) and
/// how to exit. Every error meshcap throws conforms, so `main` has one catch for all of them.
public protocol Failure: Error {
    var exitStatus: ExitStatus { get }
    var lines: [String] { get }
}

/// A failure on the host, with the errno of the system call that failed when there was one, so
/// callers can tell "already gone" (ENOENT) from a real failure.
public struct HostError: Failure, CustomStringConvertible {
    public let description: String
    public let errno: Int32?

    public init(_ what: String, errno code: Int32) {
        description = "\(what): \(Errno.describe(code))"
        errno = code
    }

    public init(_ description: String) {
        self.description = description
        errno = nil
    }

    private init(description: String, errno: Int32?) {
        self.description = description
        self.errno = errno
    }

    /// What the failed call said, by meaning (as knftables names them): "already gone", "already
    /// there", "not understood by this kernel", "busy".
    public var isNotFound: Bool { errno == ENOENT || errno == ESRCH || errno == EADDRNOTAVAIL }
    public var isAlreadyThere: Bool { errno == EEXIST }
    public var isInvalid: Bool { errno == EINVAL }
    public var isUnsupported: Bool { errno == EOPNOTSUPP }
    public var isBusy: Bool { errno == EBUSY }

    /// The same error, with more said after it.
    public func appending(_ text: String) -> HostError { HostError(description: description + text, errno: errno) }

    public var exitStatus: ExitStatus { .hostError }
    public var lines: [String] { [description] }
}

public enum Errno {
    static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", ENOMEM: "ENOMEM", EACCES: "EACCES",
        EBUSY: "EBUSY", EEXIST: "EEXIST", EXDEV: "EXDEV", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL",
        ENFILE: "ENFILE", EMFILE: "EMFILE", ENOSPC: "ENOSPC", EROFS: "EROFS", ERANGE: "ERANGE",
        ENAMETOOLONG: "ENAMETOOLONG", ELOOP: "ELOOP", EMLINK: "EMLINK", E2BIG: "E2BIG", ENOBUFS: "ENOBUFS",
        EOPNOTSUPP: "EOPNOTSUPP", EMSGSIZE: "EMSGSIZE", EAFNOSUPPORT: "EAFNOSUPPORT",
        EPROTONOSUPPORT: "EPROTONOSUPPORT", EAGAIN: "EAGAIN", ETIMEDOUT: "ETIMEDOUT", ENXIO: "ENXIO",
    ]

    /// "No such file or directory (ENOENT)".
    public static func describe(_ code: Int32) -> String {
        "\(String(cString: strerror(code)))\(names[code].map { " (\($0))" } ?? " (errno \(code))")"
    }
}

extension String {
    /// The text with every character a terminal would act on or hide written out as an escape:
    /// control bytes (`\x1b` could recolour or rewrite the screen), and invisible or
    /// direction-changing characters (a byte-order mark inside a key name would otherwise look
    /// like nothing at all).
    public var escapedForTerminal: String {
        var out = ""
        for scalar in unicodeScalars {
            switch scalar.value {
            case 0x09: out += "\\t"
            case 0x0a: out += "\\n"
            case 0x0d: out += "\\r"
            case 0x00..<0x20, 0x7f:
                let hex = String(scalar.value, radix: 16)
                out += "\\x" + (hex.count < 2 ? "0" : "") + hex
            case 0x80..<0xa0, 0xad, 0x200b...0x200f, 0x2028...0x202e, 0x2060...0x2069, 0xfeff:
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
