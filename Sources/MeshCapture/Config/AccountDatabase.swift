/// User and group names, read from passwd/group files: a misspelt name is caught when the rules
/// are compiled, not when a loader on some VM fails on it, and ENVOY_USER's UID is found the way
/// Istio finds it. The files are explicit inputs (`--passwd-file`, `--group-file`), defaulting to
/// the host's.
public struct AccountDatabase: Sendable {
    public let passwdPath: String
    public let groupPath: String
    /// Name to UID and name to GID.
    public let userIDs: [String: UInt32]
    public let groupIDs: [String: UInt32]

    public var users: Set<String> { Set(userIDs.keys) }
    public var groups: Set<String> { Set(groupIDs.keys) }

    public static let defaultPasswdPath = "/etc/passwd"
    public static let defaultGroupPath = "/etc/group"

    public init(passwdPath: String = defaultPasswdPath, groupPath: String = defaultGroupPath) throws(ConfigErrors) {
        self.passwdPath = passwdPath
        self.groupPath = groupPath
        self.userIDs = try Self.ids(in: passwdPath, role: "passwd file")
        self.groupIDs = try Self.ids(in: groupPath, role: "group file")
    }

    /// For tests and tools that only deal in numeric IDs.
    public init(users: [String: UInt32], groups: [String: UInt32]) {
        self.passwdPath = "(none)"
        self.groupPath = "(none)"
        self.userIDs = users
        self.groupIDs = groups
    }

    /// `name:password:id:...` lines, as in passwd(5) and group(5); the first entry of a name wins,
    /// as getpwnam(3) finds it.
    private static func ids(in path: String, role: String) throws(ConfigErrors) -> [String: UInt32] {
        let text = try InputFile.read(path, role: role, strictText: false)
        var ids: [String: UInt32] = [:]
        for line in text.lines where !line.hasPrefix("#") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count > 2, let id = UInt32(fields[2]), ids[String(fields[0])] == nil { ids[String(fields[0])] = id }
        }
        return ids
    }

    /// Resolves a name the way the loader on this host will.
    public func id(of name: String, isGroup: Bool) -> UInt32? { isGroup ? groupIDs[name] : userIDs[name] }

    /// The users that have this UID, sorted.
    public func users(withID id: UInt32) -> [String] { userIDs.filter { $0.value == id }.map(\.key).sorted() }
}

extension AccountDatabase {
    /// Names in rules resolve through the same files they were checked against.
    public var resolver: OwnerResolver { { [self] name, isGroup in id(of: name, isGroup: isGroup) } }
}
