/// A saved dump meshcap cannot read: where (the input's name and the first line that is wrong),
/// what is wrong, and what it would have accepted there.
public struct DumpError: Failure, Equatable, CustomStringConvertible {
    /// What the input is called: its path, or "stdin".
    public let name: String
    public let line: Int
    public let problem: String
    public let allowed: String

    public init(name: String, line: Int, problem: String, allowed: String) {
        self.name = name
        self.line = line
        self.problem = problem
        self.allowed = allowed
    }

    public var exitStatus: ExitStatus { .badInput }
    public var lines: [String] { [description] }
    public var description: String { "\(name):\(line): \(problem); allowed: \(allowed)" }
}
