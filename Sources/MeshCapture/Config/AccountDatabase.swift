import Foundation

/// User and group names, read from passwd/group files so that a misspelt name is caught when
/// the rules are compiled, not when a loader on some VM fails on it. The files are explicit
/// inputs (`--passwd-file`, `--group-file`), defaulting to the host's.
public struct AccountDatabase: Sendable {
    public let passwdPath: String
    public let groupPath: String
    public let users: Set<String>
    public let groups: Set<String>

    public init(passwdPath: String = "/etc/passwd", groupPath: String = "/etc/group") throws(ConfigError) {
        self.passwdPath = passwdPath
        self.groupPath = groupPath
        self.users = try Self.names(in: passwdPath)
        self.groups = try Self.names(in: groupPath)
    }

    /// For tests and tools that only deal in numeric IDs.
    public init(users: Set<String>, groups: Set<String>) {
        self.passwdPath = "(none)"
        self.groupPath = "(none)"
        self.users = users
        self.groups = groups
    }

    private static func names(in path: String) throws(ConfigError) -> Set<String> {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(origin: nil, message: "cannot read the account file \(path)")
        }
        return Set(text.split(separator: "\n").compactMap { line in
            line.hasPrefix("#") ? nil : line.split(separator: ":", maxSplits: 1).first.map(String.init)
        })
    }
}
