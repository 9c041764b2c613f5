/// Where a value came from, so every error can point at it.
public enum Origin: Sendable, Hashable, CustomStringConvertible {
    case file(path: String, line: Int)
    case flag(String)
    /// A variable in meshcap's environment, as istio-iptables reads its settings from the
    /// environment too.
    case environment(String)

    public var description: String {
        switch self {
        case .file(let path, let line): "\(path):\(line)"
        case .flag(let flag): "flag \(flag)"
        case .environment(let name): "environment variable \(name)"
        }
    }
}

/// One KEY=VALUE as written by the user, before it is understood.
public struct Setting: Sendable, Hashable {
    public let key: String
    public let value: String
    public let origin: Origin
    /// Why the value could not be read literally (shell syntax, an open quote); `value` is then
    /// empty. An error only for keys meshcap acts on: Istio's start script sources the file as
    /// shell, so a key nobody reads may well hold something only a shell understands.
    public let unreadable: ValueProblem?

    public init(key: String, value: String, origin: Origin) {
        self.key = key
        self.value = value
        self.origin = origin
        self.unreadable = nil
    }

    public init(key: String, unreadable: ValueProblem, origin: Origin) {
        self.key = key
        self.value = ""
        self.origin = origin
        self.unreadable = unreadable
    }

    /// "PROXY_UID=998 (cluster.env:3)": how messages point at a setting.
    public var cited: String { "\(key)=\(value) (\(origin))" }
}
