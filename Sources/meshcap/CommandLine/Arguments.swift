import MeshCapture

/// A subcommand's words, read by its `CommandSpec`: switches given, values by option, operands.
///
/// The rules are getopt_long's, as users of iptables and nft expect them: `--name value` or
/// `--name=value`; `-n value` for an option with a short name; `--` ends the options. A value may
/// be `-` (standard input) but not another option. What the spec does not name is an error, unless
/// the subcommand passes unknown options on (its istio-iptables flags), in order, with the words
/// after them.
struct Arguments {
    private var switches: Set<String> = []
    private var values: [String: [String]] = [:]
    private(set) var operands: [String] = []

    /// What the words ask for: the subcommand run with these arguments, its help, or meshcap's
    /// version (which every subcommand answers, as it did under swift-argument-parser).
    enum Request {
        case run(Arguments)
        case help
        case version
    }

    static func parse(_ words: [String], by spec: CommandSpec) throws(ConfigError) -> Request {
        var arguments = Arguments()
        var index = 0
        func next() -> String? {
            guard index < words.count else { return nil }
            defer { index += 1 }
            return words[index]
        }
        while let word = next() {
            if word == "--" {
                guard spec.operands != nil else { throw Self.unexpected(word, spec) }
                arguments.operands += words[index...]
                break
            }
            if word == "-h" || word == "--help" { return .help }
            if word == "--version" { return .version }
            guard word.hasPrefix("-") && word != "-" else {
                guard spec.operands != nil else { throw Self.unexpected(word, spec) }
                arguments.operands.append(word)
                continue
            }
            // "--name=value" carries its value; "-n" is looked up by its letter.
            let (name, inline) = Self.split(word)
            let option = spec.options.first { option in
                name.hasPrefix("--") ? option.long == name.dropFirst(2) : name.count == 2 && option.short == name.last
            }
            guard let option else {
                // Passed on only when it is an istio-iptables flag: a typo of one of the
                // subcommand's own options is said as one (`verify --jsn`), not as an unknown key.
                guard spec.operands?.unknownOptionsToo == true, Self.istioFlags.contains(name) else { throw Self.unexpected(name, spec) }
                arguments.operands.append(word)
                continue
            }
            guard option.takesValue else {
                if inline != nil { throw ConfigError(origin: .flag("--\(option.long)"), message: "\(word): the switch takes no value; allowed: --\(option.long) alone") }
                arguments.switches.insert(option.long)
                continue
            }
            let choices = if case .words(let words) = option.completion { ", one of \(words.joined(separator: ", "))" } else { "" }
            var value = inline
            if value == nil, index < words.count {
                // "-" is standard input; any other word that starts with a dash is an option.
                let following = words[index]
                guard following == "-" || !following.hasPrefix("-") else {
                    throw ConfigError(origin: .flag("--\(option.long)"), message: "\(following.excerpt) is an option, not a value; allowed: \(option.usage)\(choices) (--\(option.long)=\(following) for a value that starts with a dash)")
                }
                value = next()
            }
            guard let value else {
                throw ConfigError(origin: .flag("--\(option.long)"), message: "no value; allowed: \(option.usage)\(choices)")
            }
            arguments.values[option.long, default: []].append(value)
        }
        return .run(arguments)
    }

    /// "--name=value" as ("--name", "value"); "--name=" is the empty value, as KEY= is in a file.
    private static func split(_ word: String) -> (name: String, value: String?) {
        guard word.hasPrefix("--"), let equals = word.firstIndex(of: "=") else { return (word, nil) }
        return (String(word[..<equals]), String(word[word.index(after: equals)...]))
    }

    /// Every istio-iptables flag the config loader reads (`-i`, `--redirect-dns` ...).
    static let istioFlags = Set(ConfigKey.all.flatMap(\.flags))

    private static func unexpected(_ word: String, _ spec: CommandSpec) -> ConfigError {
        let own = spec.options.map { "--\($0.long)" }
        let istio = spec.operands?.unknownOptionsToo == true ? istioFlags.sorted() : []
        let nearest = word.hasPrefix("-") ? ConfigLoader.suggestion(for: word, among: own + istio) : ""
        let more = istio.isEmpty ? "" : ", and istio-iptables flags (`meshcap keys` lists them)"
        return ConfigError(origin: nil, message: "meshcap \(spec.name) does not take \(word.excerpt)\(nearest)\(own.isEmpty ? "" : "; allowed: \(own.joined(separator: ", "))\(more)") (`meshcap \(spec.name) --help` says what each does)")
    }

    func flag(_ long: String) -> Bool { switches.contains(long) }

    /// Every value of a repeatable option, in the order given.
    func all(_ long: String) -> [String] { values[long] ?? [] }

    /// An option's value read as `T`, or nil when it was not given.
    func value<T: ArgumentValue>(_ long: String, as: T.Type = T.self) throws(ConfigError) -> T? {
        guard let text = values[long]?.last else { return nil }
        guard let value = T(argument: text) else {
            throw ConfigError(origin: .flag("--\(long)"), message: "\(text.excerpt) is not allowed; allowed: \(T.allowed)")
        }
        return value
    }

    /// A value the subcommand cannot do without.
    func required<T: ArgumentValue>(_ long: String, of spec: CommandSpec, as: T.Type = T.self) throws(ConfigError) -> T {
        guard let value: T = try value(long) else {
            let usage = spec.options.first { $0.long == long }?.usage ?? "--\(long)"
            throw ConfigError(origin: nil, message: "meshcap \(spec.name) needs \(usage)")
        }
        return value
    }
}

extension Arguments {
    /// The one value a top-level option takes, as `--generate-completion-script bash` or
    /// `--generate-completion-script=bash`, and nothing after it.
    static func value<T: ArgumentValue>(of option: String, in words: [String], as: T.Type) throws(ConfigError) -> T {
        let (_, inline) = split(words[0])
        let given = inline.map { [$0] + words.dropFirst() } ?? Array(words.dropFirst())
        guard let word = given.first else { throw ConfigError(origin: .flag(option), message: "no value; allowed: \(T.allowed)") }
        guard let value = T(argument: word) else { throw ConfigError(origin: .flag(option), message: "\(word.excerpt) is not allowed; allowed: \(T.allowed)") }
        guard given.count == 1 else { throw ConfigError(origin: .flag(option), message: "\(given[1].excerpt) follows the value; allowed: \(option) and one value") }
        return value
    }
}
