/// One key set in a KEY=VALUE file the way a person edits it: every other line, comment, blank
/// line and the order stay as they were, and so do the BOM, each line's own line end (a file
/// edited on two systems mixes LF and CRLF, and a CRLF given to a line that had LF makes a shell
/// read its value with a `\r` on the end) and the last line's end or its absence. A line that
/// sets the key (with or without `export`) gets the new value in place; several such lines all
/// do, so the file cannot say two things whichever one a reader takes; none, and the key is
/// appended with the line end most of the file's lines have.
public struct EnvFileEdit: Sendable {
    public let text: String
    /// The 1-based lines that now set the key.
    public let lines: [Int]
    public let appended: Bool

    /// - Parameter input: the file as read, or nil for a file that does not exist yet.
    public init(setting key: String, to value: String, in input: InputText?) {
        // Single quotes, as istioctl writes cluster.env; a value with a quote in it is not a CIDR
        // list, but is written as the shell reads it all the same.
        let assignment = EnvFile.assignment(key, value)
        var output: [String] = []
        var lines: [Int] = []
        let ends = input?.lineEnds ?? []
        var endings: [String] = []
        // A quoted value over several lines (as EnvFile reads it): its further lines are part of
        // it, never settings of their own, and go with it when it is the one replaced.
        var continued: (text: String, replaced: Bool)?
        for (index, line) in (input?.lines ?? []).enumerated() {
            let ending = ends.indices.contains(index) ? ends[index].map(Self.text) ?? "" : ""
            if let value = continued {
                let text = value.text + "\n" + line
                continued = EnvFile.openQuote(Substring(text)) == nil ? nil : (text, value.replaced)
                if !value.replaced {
                    output.append(line)
                    endings.append(ending)
                }
                continue
            }
            let indent = line.prefix { $0 == " " || $0 == "\t" }
            var rest = line.dropFirst(indent.count)
            var export = ""
            if rest.hasPrefix("export"), let blank = rest.dropFirst(6).first, blank == " " || blank == "\t" {
                let afterExport = rest.dropFirst(6).drop { $0 == " " || $0 == "\t" }
                export = String(rest[..<afterExport.startIndex])
                rest = afterExport
            }
            let replaced = rest.hasPrefix(key + "=")
            if replaced {
                output.append(indent + export + assignment)
                lines.append(output.count)
            } else {
                output.append(line)
            }
            endings.append(ending)
            if let equals = rest.firstIndex(of: "="), EnvFile.openQuote(rest[rest.index(after: equals)...]) != nil {
                continued = (String(rest[rest.index(after: equals)...]), replaced)
            }
        }
        appended = lines.isEmpty
        if appended {
            output.append(assignment)
            lines.append(output.count)
            // The line before it needs an end now; the new last line goes without one if the
            // file's last line did (an empty or new file gets one).
            let dominant = Self.text(Self.dominant(ends))
            if let last = ends.indices.last, ends[last] == nil {
                endings[last] = dominant
                endings.append("")
            } else {
                endings.append(dominant)
            }
        }
        self.lines = lines
        text = (input?.hadByteOrderMark == true ? "\u{FEFF}" : "") + zip(output, endings).map { $0 + $1 }.joined()
    }

    /// The line end most lines have; of two as common, the one used last. LF in a file with none.
    static func dominant(_ ends: [LineEnding?]) -> LineEnding {
        var counts: [LineEnding: (count: Int, last: Int)] = [:]
        for (index, end) in ends.enumerated() {
            guard let end else { continue }
            counts[end] = ((counts[end]?.count ?? 0) + 1, index)
        }
        return counts.max { ($0.value.count, $0.value.last) < ($1.value.count, $1.value.last) }?.key ?? .lf
    }

    static func text(_ end: LineEnding) -> String {
        switch end {
        case .lf: "\n"
        case .crlf: "\r\n"
        case .cr: "\r"
        }
    }
}
