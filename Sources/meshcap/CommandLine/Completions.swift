import MeshCapture

/// Shell completion scripts for bash, zsh and fish, from the subcommands' specs:
/// `meshcap --generate-completion-script SHELL`, which install.sh runs. Each offers the
/// subcommands, then the subcommand's options, then an option's values: files, directories or
/// its fixed words.
enum Completions {
    enum Shell: String, CaseIterable, ArgumentValue {
        case bash, zsh, fish
    }

    static func script(for shell: Shell, subcommands: [CommandSpec]) -> String {
        let visible = subcommands.filter { !$0.hidden }
        let lines = switch shell {
        case .bash: bash(visible)
        case .zsh: zsh(visible)
        case .fish: fish(visible)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static let globalOptions = [("--version", "Print the version"), ("--help", "Show help")]

    static func bash(_ specs: [CommandSpec]) -> [String] {
        var lines = [
            "# bash completion for meshcap, written by `meshcap --generate-completion-script bash`.",
            "_meshcap() {",
            "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}",
            "    COMPREPLY=()",
            "    # bash splits --name=value at the '=': the option is the word before it.",
            "    if [ \"$prev\" = = ] && [ \"$COMP_CWORD\" -ge 2 ]; then prev=${COMP_WORDS[COMP_CWORD-2]}; fi",
            "    if [ \"$cur\" = = ]; then cur=; fi",
            "    if [ \"$COMP_CWORD\" -eq 1 ]; then",
            "        mapfile -t COMPREPLY < <(compgen -W '\((specs.map(\.name) + ["help"] + globalOptions.map(\.0)).joined(separator: " "))' -- \"$cur\")",
            "        return",
            "    fi",
            "    case ${COMP_WORDS[1]} in",
            "    help)",
            "        [ \"$COMP_CWORD\" -eq 2 ] && mapfile -t COMPREPLY < <(compgen -W '\(specs.map(\.name).joined(separator: " "))' -- \"$cur\")",
            "        ;;",
        ]
        for spec in specs {
            lines.append("    \(spec.name))")
            let valued = spec.options.filter(\.takesValue)
            if !valued.isEmpty {
                lines.append("        case $prev in")
                for option in valued {
                    let names = ([option.short.map { "-\($0)" }].compactMap { $0 } + ["--\(option.long)"]).joined(separator: "|")
                    // Paths as readline treats file names: quoted when inserted, directories with a /.
                    let generate = switch option.completion {
                    case .file: "compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- \"$cur\")"
                    case .directory: "compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- \"$cur\")"
                    case .words(let words): "mapfile -t COMPREPLY < <(compgen -W '\(words.joined(separator: " "))' -- \"$cur\")"
                    case .none: ""
                    }
                    lines.append("        \(names)) " + (generate.isEmpty ? "return ;;" : "\(generate); return ;;"))
                }
                lines.append("        esac")
            }
            let words = spec.options.flatMap { option in [option.short.map { "-\($0)" }, "--\(option.long)"].compactMap { $0 } } + ["--help"]
            lines += ["        mapfile -t COMPREPLY < <(compgen -W '\(words.joined(separator: " "))' -- \"$cur\")", "        ;;"]
        }
        lines += ["    esac", "}", "complete -o default -F _meshcap meshcap"]
        return lines
    }

    static func zsh(_ specs: [CommandSpec]) -> [String] {
        var lines = [
            "#compdef meshcap",
            "# zsh completion for meshcap, written by `meshcap --generate-completion-script zsh`.",
            "_meshcap() {",
            "    local -a subcommands",
            "    subcommands=(",
        ]
        lines += specs.map { "        \(single("\($0.name):\(summary($0.abstract))"))" }
        lines += [
            "    )",
            "    if (( CURRENT == 2 )); then",
            "        _describe -t subcommands 'meshcap subcommand' subcommands",
            "        _arguments '--version[\(globalOptions[0].1)]' '--help[\(globalOptions[1].1)]'",
            "        return",
            "    fi",
            "    shift words",
            "    (( CURRENT-- ))",
            "    case $words[1] in",
        ]
        for spec in specs {
            var arguments = spec.options.map { option -> String in
                let description = "[\(bracketed(summary(option.help)))]"
                let value = switch option.value {
                case .flag: ""
                case .single(let name, let completion), .repeated(let name, let completion): ":\(name):" + action(completion)
                }
                let times = if case .repeated = option.value { "*" } else { "" }
                // "--name=" takes the value both as the next word and after an '='.
                let equals = option.takesValue ? "=" : ""
                if let short = option.short {
                    return single("\(times)(-\(short) --\(option.long))") + "{-\(short),--\(option.long)\(equals)}" + single(description + value)
                }
                return single("\(times)--\(option.long)\(equals)\(description)\(value)")
            }
            arguments.append(single("(- *)--help[Show help]"))
            if let operands = spec.operands { arguments.append(single("*:\(operands.name):")) }
            lines.append("    \(spec.name))")
            lines.append("        _arguments -s \\")
            lines += arguments.enumerated().map { index, argument in "            \(argument)" + (index < arguments.count - 1 ? " \\" : "") }
            lines.append("        ;;")
        }
        lines += ["    esac", "}", "_meshcap \"$@\""]
        return lines
    }

    static func action(_ completion: OptionSpec.Completion) -> String {
        switch completion {
        case .file: "_files"
        case .directory: "_files -/"
        case .words(let words): "(\(words.joined(separator: " ")))"
        case .none: " "
        }
    }

    static func fish(_ specs: [CommandSpec]) -> [String] {
        var lines = [
            "# fish completion for meshcap, written by `meshcap --generate-completion-script fish`.",
            "function __meshcap_subcommand_is",
            "    set -l words (commandline -opc)",
            "    test (count $words) -ge 2; and test \"$words[2]\" = \"$argv[1]\"",
            "end",
            "function __meshcap_needs_subcommand",
            "    test (count (commandline -opc)) -eq 1",
            "end",
            "complete -c meshcap -f",
        ]
        lines += specs.map { "complete -c meshcap -n __meshcap_needs_subcommand -a \($0.name) -d \(fishQuoted(summary($0.abstract)))" }
        lines += globalOptions.map { "complete -c meshcap -n __meshcap_needs_subcommand -l \($0.0.dropFirst(2)) -d \(fishQuoted($0.1))" }
        for spec in specs {
            let condition = "-n '__meshcap_subcommand_is \(spec.name)'"
            for option in spec.options {
                let names = (option.short.map { "-s \($0) " } ?? "") + "-l \(option.long)"
                let value = switch option.completion {
                case _ where !option.takesValue: ""
                case .file: " -r -F"
                case .directory: " -x -a '(__fish_complete_directories)'"
                case .words(let words): " -x -a \(fishQuoted(words.joined(separator: " ")))"
                case .none: " -x"
                }
                lines.append("complete -c meshcap \(condition) \(names)\(value) -d \(fishQuoted(summary(option.help)))")
            }
            lines.append("complete -c meshcap \(condition) -s h -l help -d 'Show help'")
        }
        return lines
    }

    /// A help text's first sentence: what fits beside a completion.
    static func summary(_ help: String) -> String {
        let sentence = help.firstRange(of: ". ").map { String(help[..<$0.lowerBound]) } ?? help
        return sentence.hasSuffix(".") ? String(sentence.dropLast()) : sentence
    }

    /// In single quotes for sh and zsh: a quote is closed, escaped and reopened.
    static func single(_ text: String) -> String { "'" + text.replacing("'", with: "'\\''") + "'" }

    /// The text inside an _arguments description's brackets, where ] : and \ mean something.
    static func bracketed(_ text: String) -> String {
        text.replacing("\\", with: "\\\\").replacing("]", with: "\\]").replacing("[", with: "\\[").replacing(":", with: "\\:")
    }

    /// In single quotes for fish, where \ and ' are escaped inside them.
    static func fishQuoted(_ text: String) -> String {
        "'" + text.replacing("\\", with: "\\\\").replacing("'", with: "\\'") + "'"
    }
}
