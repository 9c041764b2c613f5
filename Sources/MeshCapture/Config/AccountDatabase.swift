/// User and group names, read from passwd/group files so that a misspelt name is caught when
/// the rules are compiled, not when a loader on some VM fails on it. The files are explicit
/// inputs (`--passwd-file`, `--group-file`), defaulting to the host's.
public struct AccountDatabase: Sendable {
    public let passwdPath: String
    public let groupPath: String
    /// Name to UID and name to GID.
    public let userIDs: [String: UInt32]
    public let groupIDs: [String: UInt32]

    public var users: Set<String> { Set(userIDs.keys) }
    public var groups: Set<String> { Set(groupIDs.keys) }

    public init(passwdPath: String = "/etc/passwd", groupPath: String = "/etc/group") throws(ConfigError) {
        self.passwdPath = passwdPath
        self.groupPath = groupPath
        self.userIDs = try Self.ids(in: passwdPath)
        self.groupIDs = try Self.ids(in: groupPath)
    }

    /// For tests and tools that only deal in numeric IDs.
    public init(users: [String: UInt32], groups: [String: UInt32]) {
        self.passwdPath = "(none)"
        self.groupPath = "(none)"
        self.userIDs = users
        self.groupIDs = groups
    }

    /// `name:password:id:...` lines, as in passwd(5) and group(5).
    private static func ids(in path: String) throws(ConfigError) -> [String: UInt32] {
        guard let text = TextFile.read(path) else {
            throw ConfigError(origin: nil, message: "cannot read the account file \(path)")
        }
        var ids: [String: UInt32] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count > 2, let id = UInt32(fields[2]) { ids[String(fields[0])] = id }
        }
        return ids
    }

    /// Resolves a name the way the loader on this host will.
    public func id(of name: String, isGroup: Bool) -> UInt32? { isGroup ? groupIDs[name] : userIDs[name] }
}
