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
}
