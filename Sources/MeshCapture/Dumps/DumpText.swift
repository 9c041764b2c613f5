/// A dump as numbered lines (at LF, CRLF or CR, as a file meshcap reads is split), and the
/// errors that name them.
public struct DumpText: Sendable {
    public let name: String
    /// Line n is `lines[n - 1]`, without its line end.
    public let lines: [String]
    /// Whether the text ends with a line end (or is empty).
    public let endsWithLineEnd: Bool

    public init(_ text: String, name: String) {
        self.name = name
        let split = InputFile.lines(of: text, name: name)
        lines = split.lines
        endsWithLineEnd = split.endsWithLineEnd
    }

    public func error(_ line: Int, _ problem: String, allowed: String) -> DumpError {
        DumpError(name: name, line: line, problem: problem, allowed: allowed)
    }

    /// A piece of the input as a message shows it: quoted, at most 60 characters, with nothing a
    /// terminal would act on.
    public static func quoted(_ text: some StringProtocol) -> String {
        let shown = text.count > 60 ? text.prefix(57) + "..." : Substring(text)
        return "`\(String(shown).escapedForTerminal)`"
    }
}

extension StringProtocol {
    /// Without blanks (spaces, tabs) at either end.
    public var withoutBlanks: SubSequence {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else { return self[endIndex...] }
        return self[first...last]
    }
}
