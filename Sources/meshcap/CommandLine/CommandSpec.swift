/// What a subcommand accepts, said once: the parser reads arguments by it, and the help, the man
/// page and the shell completions are written from it, so none of them can disagree with another.
///
/// meshcap parses its own command line instead of using swift-argument-parser: that library
/// reflects over every option's property wrapper on each run, which was 30% of a default apply's
/// CPU, and links Foundation into the static binary (README § Benchmarks).
struct CommandSpec: Sendable {
    let name: String
    /// One line: the subcommand list and the man page's entry.
    let abstract: String
    /// Paragraphs for --help and the man page; a line that starts with a blank (an example) is
    /// printed as it is, never rewrapped.
    var discussion = ""
    var options: [OptionSpec] = []
    /// Words that are not options, or nil when the subcommand takes none.
    var operands: Operands?
    /// Internal helpers other subcommands run: left out of help, man page and completions.
    var hidden = false
}

/// One `--name` (and perhaps `-n`) of a subcommand.
struct OptionSpec: Sendable {
    /// What follows the option's name.
    enum Value: Sendable {
        /// Nothing: a switch.
        case flag
        /// One value; given twice, the last wins.
        case single(name: String, completion: Completion)
        /// A value each time the option is given, all kept in order.
        case repeated(name: String, completion: Completion)
    }

    /// What a shell offers for the value.
    enum Completion: Sendable, Equatable {
        case file
        case directory
        case words([String])
        /// Nothing to offer (a number, a name).
        case none
    }

    let long: String
    var short: Character?
    let value: Value
    let help: String

    init(_ long: String, short: Character? = nil, _ value: Value = .flag, help: String) {
        self.long = long
        self.short = short
        self.value = value
        self.help = help
    }

    /// `--name <value>`, as usage lines and errors show the option.
    var usage: String {
        switch value {
        case .flag: "--\(long)"
        case .single(let name, _), .repeated(let name, _): "--\(long) <\(name)>"
        }
    }

    var takesValue: Bool {
        if case .flag = value { return false }
        return true
    }

    var completion: Completion {
        switch value {
        case .flag: .none
        case .single(_, let completion), .repeated(_, let completion): completion
        }
    }
}

/// The words of a subcommand that are not its options.
struct Operands: Sendable {
    let name: String
    let help: String
    /// Whether an option the subcommand does not know is an operand too: the istio-iptables flags
    /// every rule-making subcommand passes on to the config loader (which knows them, and says
    /// which one it does not).
    var unknownOptionsToo = false
}

/// A value type an option's text is read as; `allowed` is what the error names when it is not.
protocol ArgumentValue {
    init?(argument: String)
    static var allowed: String { get }
}

extension ArgumentValue where Self: RawRepresentable & CaseIterable, RawValue == String {
    init?(argument: String) { self.init(rawValue: argument) }
    static var allowed: String { choices.joined(separator: ", ") }
    static var choices: [String] { allCases.map(\.rawValue) }
}

extension String: ArgumentValue {
    init?(argument: String) { self = argument }
    static var allowed: String { "any text" }
}

extension Int: ArgumentValue {
    init?(argument: String) { self.init(argument, radix: 10) }
    static var allowed: String { "a whole number" }
}

extension UInt32: ArgumentValue {
    init?(argument: String) { self.init(argument, radix: 10) }
    static var allowed: String { "a whole number from 0 to 4294967295" }
}

extension Double: ArgumentValue {
    init?(argument: String) {
        // Double("nan") and Double("inf") parse; no option here means either.
        guard let value = Double(argument), value.isFinite else { return nil }
        self = value
    }
    static var allowed: String { "a number such as 2 or 0.5" }
}
