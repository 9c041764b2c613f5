import CNftnl
import MeshCapture

/// How the model's iptables-shaped tables and chains are spelled in nftables, as Istio's
/// nftables backend spells them: one `inet` table per iptables table, lowercase chain names.
public enum NftNames {
    public static let tablePrefix = "istio-proxy-"

    public static func table(_ kind: TableKind) -> String { tablePrefix + kind.rawValue }

    public static func chain(_ name: ChainName) -> String {
        switch name {
        case .builtin(let hook): hook.rawValue
        case .regular(let name): name.lowercased().replacingOccurrences(of: "_", with: "-")
        }
    }

    /// The type of the base chain that plays the role of an iptables built-in chain (its
    /// priority is the table's, `TableKind.priority(at:)`). mangle OUTPUT is a `route` chain: a
    /// mark set there must re-route the packet.
    public static func chainType(_ kind: TableKind, _ hook: Hook) -> String {
        switch kind {
        case .nat: "nat"
        case .mangle: hook == .output ? "route" : "filter"
        case .raw: "filter"
        }
    }
}

extension String {
    func replacingOccurrences(of target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}

extension Family {
    /// The family's number in nf_tables (NFPROTO_IPV4, NFPROTO_IPV6): a table's, a chain's, and
    /// what `meta nfproto` and `tproxy ip|ip6` compare.
    public var nfproto: UInt32 { UInt32(self == .ipv4 ? NFPROTO_IPV4 : NFPROTO_IPV6) }
}
