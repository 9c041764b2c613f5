/// The netfilter hooks a base chain can attach to.
public enum Hook: String, Sendable, Hashable, CaseIterable {
    case prerouting
    case input
    case forward
    case output
    case postrouting
}

/// A built-in chain (iptables' PREROUTING, an nftables base chain at that hook) or a regular
/// chain reached only by jumps. Regular chains keep Istio's names (ISTIO_OUTPUT) so runbooks
/// keep working; the nft renderer spells them as Istio's nft backend does (istio-output).
public enum ChainName: Sendable, Hashable, CustomStringConvertible {
    case builtin(Hook)
    case regular(String)

    public static let prerouting = ChainName.builtin(.prerouting)
    public static let output = ChainName.builtin(.output)

    public var description: String {
        switch self {
        case .builtin(let hook): hook.rawValue.uppercased()
        case .regular(let name): name
        }
    }
}

public struct Chain: Sendable, Hashable {
    public let name: ChainName
    public let rules: [Rule]

    public init(name: ChainName, rules: [Rule]) {
        self.name = name
        self.rules = rules
    }
}
