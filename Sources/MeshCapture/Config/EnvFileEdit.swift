/// One key set in a KEY=VALUE file the way a person edits it: every other line, comment, blank
/// line and the order stay as they were; the file's line ends and BOM are kept. A line that sets
/// the key (with or without `export`) gets the new value in place; several such lines all do, so
/// the file cannot say two things whichever one a reader takes; none, and the key is appended.
public struct EnvFileEdit: Sendable {
    public let text: String
    /// The 1-based lines that now set the key.
    public let lines: [Int]
    public let appended: Bool

    /// - Parameter input: the file as read, or nil for a file that does not exist yet.
    public init(setting key: String, to value: String, in input: InputText?) {
        // Single quotes, as istioctl writes cluster.env; a value with a quote in it is not a CIDR
        // list, but is written as the shell reads it all the same.
        let assignment = "\(key)='\(value.replacing("'", with: #"'"'"'"#))'"
        var output: [String] = []
        var lines: [Int] = []
        for (index, line) in (input?.lines ?? []).enumerated() {
            let indent = line.prefix { $0 == " " || $0 == "\t" }
            var rest = line.dropFirst(indent.count)
            var export = ""
            if rest.hasPrefix("export"), let blank = rest.dropFirst(6).first, blank == " " || blank == "\t" {
                let afterExport = rest.dropFirst(6).drop { $0 == " " || $0 == "\t" }
                export = String(rest[..<afterExport.startIndex])
                rest = afterExport
            }
            if rest.hasPrefix(key + "=") {
                output.append(indent + export + assignment)
                lines.append(index + 1)
            } else {
                output.append(line)
            }
        }
        appended = lines.isEmpty
        if appended {
            output.append(assignment)
            lines.append(output.count)
        }
        self.lines = lines
        let ending = input.map { $0.lineEndings.contains(.crlf) ? "\r\n" : $0.lineEndings.contains(.cr) && !$0.lineEndings.contains(.lf) ? "\r" : "\n" } ?? "\n"
        text = (input?.hadByteOrderMark == true ? "\u{FEFF}" : "") + output.map { $0 + ending }.joined()
    }
}
