/// `meshcap --help` and `meshcap SUBCOMMAND --help`: what a subcommand does and every option it
/// takes, in lines of at most 80 columns.
enum Help {
    static let width = 80
    /// Where option descriptions start; a longer option name puts its description on the next line.
    static let column = 28

    /// The overview: what meshcap is, its subcommands, its own two options.
    static func overview(abstract: String, discussion: String, subcommands: [CommandSpec]) -> String {
        var lines = wrap("meshcap: " + abstract, indent: 0)
        lines += ["", "Usage: meshcap <subcommand> [options]", ""]
        lines += render(TextBlock.blocks(of: discussion))
        lines += ["", "Subcommands:"]
        for spec in subcommands where !spec.hidden { lines += entry("  " + spec.name, spec.abstract) }
        lines += ["", "Options:"]
        lines += entry("  -V, --version", "Print meshcap's version and the commit it was built from (`meshcap version` too).")
        lines += entry("  -h, --help", "Show this help; `meshcap SUBCOMMAND --help` (or `meshcap help SUBCOMMAND`) shows a subcommand's.")
        for (title, entries) in [("Files:", Reference.files), ("Environment:", Reference.environment), ("Exit status:", Reference.exitStatuses)] {
            lines += ["", title]
            for item in entries { lines += entry("  " + item.name, item.meaning) }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func of(_ spec: CommandSpec) -> String {
        var lines = wrap("meshcap \(spec.name): " + spec.abstract, indent: 0)
        lines += ["", "Usage: " + usage(spec)]
        if !spec.discussion.isEmpty { lines += [""] + render(TextBlock.blocks(of: spec.discussion)) }
        lines += ["", "Options:"]
        for option in spec.options { lines += entry("  " + names(option), description(option)) }
        lines += entry("  -h, --help", "Show this help.")
        if let operands = spec.operands {
            lines += ["", "Arguments:"] + entry("  <\(operands.name)> ...", operands.help)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// "meshcap apply [options] [<istio-flags> ...]".
    static func usage(_ spec: CommandSpec) -> String {
        "meshcap \(spec.name)" + (spec.options.isEmpty ? "" : " [options]") + (spec.operands.map { " [<\($0.name)> ...]" } ?? "")
    }

    /// "-v, --verbose" or "--config <file>".
    static func names(_ option: OptionSpec) -> String {
        (option.short.map { "-\($0), " } ?? "") + option.usage
    }

    /// The option's help, with the values it accepts when they are a fixed list, and "repeatable".
    static func description(_ option: OptionSpec) -> String {
        var text = option.help
        if case .words(let words) = option.completion { text += " (one of: \(words.joined(separator: ", ")))" }
        if case .repeated = option.value, !text.contains("repeatable") { text += " (repeatable)" }
        return text
    }

    /// A name and its description: the description from `column`, wrapped under itself.
    static func entry(_ name: String, _ text: String) -> [String] {
        let body = wrap(text, indent: column)
        if name.count + 2 <= column {
            return [name + String(repeating: " ", count: column - name.count) + body[0].dropFirst(column)] + body.dropFirst()
        }
        return [name] + body
    }

    static func render(_ blocks: [TextBlock]) -> [String] {
        var lines: [String] = []
        for (index, block) in blocks.enumerated() {
            if index > 0, case .paragraph = block { lines.append("") }
            switch block {
            case .paragraph(let text): lines += wrap(text, indent: 0)
            case .literal(let literal): lines += literal
            }
        }
        return lines
    }

    /// Words in lines of at most `width` columns after `indent` blanks; a word longer than a line
    /// gets a line of its own.
    static func wrap(_ text: String, indent: Int) -> [String] {
        let margin = String(repeating: " ", count: indent)
        var lines: [String] = [], line = margin
        for word in text.split(separator: " ") {
            if line.count > indent && line.count + 1 + word.count > width {
                lines.append(line)
                line = margin
            }
            line += (line.count > indent ? " " : "") + word
        }
        lines.append(line)
        return lines
    }
}

/// A discussion as help and the man page lay it out: paragraphs to fill, and lines indented in
/// the source (examples) to keep as they are.
enum TextBlock: Equatable {
    case paragraph(String)
    case literal([String])

    static func blocks(of text: String) -> [TextBlock] {
        var blocks: [TextBlock] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.allSatisfy({ $0 == " " }) {
                // A blank line ends a paragraph; the next words start another.
                if case .paragraph? = blocks.last { blocks.append(.literal([])) }
                continue
            }
            if line.first == " " {
                if case .literal(let lines)? = blocks.last { blocks[blocks.count - 1] = .literal(lines + [String(line)]) } else { blocks.append(.literal([String(line)])) }
            } else if case .paragraph(let words)? = blocks.last {
                blocks[blocks.count - 1] = .paragraph(words + " " + line)
            } else {
                blocks.append(.paragraph(String(line)))
            }
        }
        return blocks.filter { $0 != .literal([]) }
    }
}
