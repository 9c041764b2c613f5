import MeshCapture

/// meshcap(1) in mdoc, the man page macros groff and mandoc both render: the overview, then each
/// subcommand with its options, from the same specs as --help. install.sh writes it with
/// `meshcap --generate-manual DATE`.
enum ManualPage {
    static let months = ["January", "February", "March", "April", "May", "June", "July", "August",
                         "September", "October", "November", "December"]

    /// `date` is YYYY-MM-DD: install.sh passes SOURCE_DATE_EPOCH's day, so that the same binary
    /// makes the same page.
    static func render(date: String, version: String, abstract: String, discussion: String, subcommands: [CommandSpec]) throws(ConfigError) -> String {
        let parts = date.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1...12).contains(month), (1...days(in: month, of: year)).contains(day) else {
            throw ConfigError(origin: .flag("--generate-manual"), message: "\(date.excerpt) is not a date; allowed: YYYY-MM-DD")
        }
        var lines = [
            ".Dd \(months[month - 1]) \(day), \(year)", ".Dt MESHCAP 1", ".Os \(quoted(version))",
            ".Sh NAME", ".Nm meshcap", ".Nd \(quoted(abstract))",
            ".Sh SYNOPSIS", ".Nm", ".Ar subcommand", ".Op Ar options",
            ".Nm", ".Fl -version",
            ".Sh DESCRIPTION",
        ]
        lines += blocks(discussion)
        lines += [".Pp", "Each subcommand's options, and more examples: \\fBmeshcap\\fR \\fIsubcommand\\fR \\fB\\-\\-help\\fR.",
                  ".Sh SUBCOMMANDS", ".Bl -tag -width 6n"]
        for spec in subcommands where !spec.hidden {
            lines += [".It Em \(spec.name)", text(spec.abstract)]
            if !spec.discussion.isEmpty { lines += [".Pp"] + blocks(spec.discussion) }
            guard !spec.options.isEmpty || spec.operands != nil else { continue }
            lines.append(".Bl -tag -width 6n")
            for option in spec.options {
                let value = switch option.value {
                case .flag: ""
                case .single(let name, _): " Ar \(name)"
                case .repeated(let name, _): " Ar \(name) No ..."
                }
                lines += [".It Fl " + (option.short.map { "\($0) , -" } ?? "-") + option.long + value, text(Help.description(option))]
            }
            if let operands = spec.operands { lines += [".It Ar \(operands.name) No ...", text(operands.help)] }
            lines.append(".El")
        }
        lines.append(".El")
        // In mdoc's order of sections.
        for (section, macro, entries) in [("ENVIRONMENT", "Ev", Reference.environment), ("FILES", "Pa", Reference.files), ("EXIT STATUS", "", Reference.exitStatuses)] {
            lines += [".Sh \(section)", ".Bl -tag -width Ds"]
            for item in entries { lines += [".It " + (macro.isEmpty ? text(item.name) : "\(macro) \(quoted(item.name))"), text(item.meaning)] }
            lines.append(".El")
        }
        lines += [".Sh SEE ALSO", ".Xr iptables-restore 8 ,", ".Xr nft 8 ,", ".Xr systemctl 1"]
        return lines.joined(separator: "\n") + "\n"
    }

    static func days(in month: Int, of year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Paragraphs as filled text between .Pp; examples as a literal display.
    static func blocks(_ discussion: String) -> [String] {
        var lines: [String] = []
        for (index, block) in TextBlock.blocks(of: discussion).enumerated() {
            switch block {
            case .paragraph(let words): lines += (index > 0 ? [".Pp"] : []) + [text(words)]
            case .literal(let literal):
                // The display indents; lines keep their indentation relative to each other.
                let margin = literal.map { $0.prefix { $0 == " " }.count }.min() ?? 0
                lines += [".Bd -literal -offset indent"] + literal.map { text(String($0.dropFirst(margin))) } + [".Ed"]
            }
        }
        return lines
    }

    /// A line of text as roff reads it: backslashes written out, and a leading dot or quote (which
    /// would make it a request) neutralised.
    static func text(_ line: String) -> String {
        let escaped = line.replacing("\\", with: "\\e")
        return escaped.first == "." || escaped.first == "'" ? "\\&" + escaped : escaped
    }

    /// One macro argument, in quotes.
    static func quoted(_ argument: String) -> String {
        "\"" + argument.replacing("\\", with: "\\e").replacing("\"", with: "\\(dq") + "\""
    }
}
