/// A saved dump meshcap cannot read: where (the input's name and the first line that is wrong),
/// what is wrong, what it would have accepted there, and, once the format is known, what the dump
/// was read as and the command on the host that makes one meshcap reads whole.
public struct DumpError: Failure, Equatable, CustomStringConvertible {
    /// What the input is called: its path, or "stdin".
    public let name: String
    public let line: Int
    public let problem: String
    public let allowed: String
    /// What printed the dump, as the first line told it ("iptables-save -c"); nil when no line did.
    public private(set) var readAs: String?
    /// The command that saves a dump meshcap reads, to run on the host instead.
    public private(set) var remedy: String?

    public init(name: String, line: Int, problem: String, allowed: String) {
        self.name = name
        self.line = line
        self.problem = problem
        self.allowed = allowed
    }

    public var exitStatus: ExitStatus { .badInput }
    public var lines: [String] { [description] }
    public var description: String {
        "\(name):\(line): \(problem); allowed: \(allowed)"
            + (readAs.map { "; read as \($0) output" } ?? "")
            + (remedy.map { "; on the host, save one whole with: \($0)" } ?? "")
    }

    /// The same error, saying what the dump was read as and how to save one meshcap reads.
    public func read(as format: String?, remedy: String) -> DumpError {
        var error = self
        error.readAs = format
        error.remedy = remedy
        return error
    }
}
