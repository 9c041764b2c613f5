/// The owner of a local socket, by number or by name. Names stay names in the output: the host
/// that loads the rules resolves them (iptables' `--gid-owner java`, nft's `meta skgid java`),
/// exactly as Istio's rules do.
public enum Owner: Sendable, Hashable, CustomStringConvertible {
    case id(UInt32)
    case name(String)

    public var description: String {
        switch self {
        case .id(let id): String(id)
        case .name(let name): name
        }
    }

    /// The number the kernel holds: a name through `resolve` (a user's, or with `isGroup` a group's).
    public func id(isGroup: Bool, resolve: (String, Bool) -> UInt32?) -> UInt32? {
        switch self {
        case .id(let id): id
        case .name(let name): resolve(name, isGroup)
        }
    }

    /// As the kernel holds it, and reads back: a name by its number where `resolve` knows it
    /// (else kept, and a rule with it compares as written).
    public func numeric(isGroup: Bool, resolve: (String, Bool) -> UInt32?) -> Owner {
        id(isGroup: isGroup, resolve: resolve).map(Owner.id) ?? self
    }
}

/// Socket owners may be names in the model; the kernel holds numbers. The host that loads the
/// rules resolves them (as `nft` and iptables do with getpwnam/getgrnam); meshcap resolves them
/// through the account files it was given, to compare planned rules with read-back ones.
public typealias OwnerResolver = @Sendable (_ name: String, _ isGroup: Bool) -> UInt32?
