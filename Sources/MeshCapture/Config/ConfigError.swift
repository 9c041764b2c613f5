/// A problem with the user's input. Each names where it came from, the key, the value and what
/// would have been accepted, so it can be fixed without reading the source.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public let origin: Origin?
    public let message: String

    public init(origin: Origin?, message: String) {
        self.origin = origin
        self.message = message
    }

    static func value(_ setting: Setting, _ problem: ValueProblem) -> ConfigError {
        ConfigError(origin: setting.origin,
                    message: "\(setting.key)=\"\(setting.value)\": \(problem.problem); allowed: \(problem.allowed)")
    }

    public var description: String {
        origin.map { "\($0): \(message)" } ?? message
    }
}

/// Every problem found in one pass, so a user fixes a file once, not once per error.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public let errors: [ConfigError]

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
