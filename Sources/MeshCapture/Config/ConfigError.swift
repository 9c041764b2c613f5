/// A problem with the user's input. Each names where it came from, the key, the value and what
/// would have been accepted, so it can be fixed without reading the source.
public struct ConfigError: Failure, Sendable, Hashable, CustomStringConvertible {
    public let origin: Origin?
    public let message: String

    public init(origin: Origin?, message: String) {
        self.origin = origin
        self.message = message
    }

    static func value(_ setting: Setting, _ problem: ValueProblem) -> ConfigError {
        ConfigError(origin: setting.origin,
                    message: "\(setting.key)=\(setting.value.excerpt): \(problem.problem); allowed: \(problem.allowed)")
    }

    /// A flag's value refused by the check the config gives such a value: said as `value` says
    /// a key's, at the flag.
    public init(flag: String, value: String, _ problem: ValueProblem) {
        self.init(origin: .flag(flag), message: "\(value.excerpt): \(problem.problem); allowed: \(problem.allowed)")
    }

    public var description: String {
        origin.map { "\($0): \(message)" } ?? message
    }

    public var exitStatus: ExitStatus { .badInput }
    public var lines: [String] { [description] }
}

/// Every problem found in one pass, so a user fixes a file once, not once per error.
public struct ConfigErrors: Failure, Sendable, CustomStringConvertible {
    public let errors: [ConfigError]
    /// Said with the errors: an unknown key may well be the typo behind one of them.
    public let warnings: [String]

    public init(errors: [ConfigError], warnings: [String] = []) {
        self.errors = errors
        self.warnings = warnings
    }

    public var exitStatus: ExitStatus { .badInput }
    public var lines: [String] { warnings.map { "warning: \($0)" } + errors.map(\.description) }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// Why a value was refused and what the key accepts.
public struct ValueProblem: Error, Sendable, Hashable {
    public let problem: String
    public let allowed: String

    public init(_ problem: String, allowed: String) {
        self.problem = problem
        self.allowed = allowed
    }
}
