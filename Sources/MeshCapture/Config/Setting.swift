/// Where a value came from, so every error can point at it.
public enum Origin: Sendable, Hashable, CustomStringConvertible {
    case file(path: String, line: Int)
    case flag(String)

    public var description: String {
        switch self {
        case .file(let path, let line): "\(path):\(line)"
        case .flag(let flag): "flag \(flag)"
        }
    }
}

/// One KEY=VALUE as written by the user, before it is understood.
public struct Setting: Sendable, Hashable {
    public let key: String
    public let value: String
    public let origin: Origin

    public init(key: String, value: String, origin: Origin) {
        self.key = key
        self.value = value
        self.origin = origin
    }
}
