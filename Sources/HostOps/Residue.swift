import CNftnl
import MeshCapture
import NftablesBackend

/// Where capture rules of meshcap or Istio sit on a host: meshcap's nft tables, ISTIO chains in
/// either iptables variant. Two places at once is the classic reason capture "does nothing" (the
/// operator looks at one, the kernel runs both), so apply chooses with it and warns with it.
public struct Residue: Sendable {
    public let nftTables: [String]
    /// The iptables variants holding ISTIO chains, with the families they hold them in.
    public let iptables: [IptablesVariant: [Family]]

    public init(nftTables: [String], iptables: [IptablesVariant: [Family]]) {
        self.nftTables = nftTables
        self.iptables = iptables
    }

    /// Reads without creating anything and without running a program: one netlink chain dump
    /// shows meshcap's nft tables and iptables-nft's ISTIO chains (its tables are nf_tables
    /// ones); the legacy tables the kernel lists are asked for their chain names directly.
    public static func find() -> Residue {
        let chains = (try? RuleDump.allChains()) ?? []
        let names = Set(TableKind.allCases.map(NftNames.table))
        let tables = chains.filter { $0.family == UInt32(NFPROTO_INET) && names.contains($0.table) }.map(\.table)
        var iptables: [IptablesVariant: [Family]] = [:]
        for family in Family.allCases
        where chains.contains(where: { $0.family == family.nfproto && ChainName.istioChains.contains(.regular($0.name)) }) {
            iptables[.nft, default: []].append(family)
        }
        for family in Family.allCases {
            // Chain names straight from the kernel: no iptables-legacy-save per run.
            let chains = IptablesHost.legacyTables(family).flatMap { (try? LegacyChains.names($0, family: family)) ?? [] }
            if chains.contains(where: { ChainName.istioChains.contains(.regular($0)) }) {
                iptables[.legacy, default: []].append(family)
            }
        }
        return Residue(nftTables: tables.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }, iptables: iptables)
    }

    /// The variant an iptables apply should use, and why; a warning when both hold ISTIO chains.
    /// - Parameter forced: the variant the user named, and where they named it.
    public func variant(forced: (variant: IptablesVariant, by: String)?) -> (variant: IptablesVariant, reason: String, warning: String?) {
        let holding = IptablesVariant.allCases.filter { iptables[$0] != nil }
        let both = holding.count == 2
            ? "ISTIO chains are in both iptables variants (iptables-nft and iptables-legacy): the kernel runs both, and `iptables -t nat -L` shows only one; remove the other with `meshcap clean --backend iptables --iptables-variant X`"
            : nil
        if let forced { return (forced.variant, forced.by, both) }
        let system = IptablesVariant.system() ?? .nft
        if holding.count == 1, let only = holding.first {
            return (only, "iptables-\(only.rawValue) already holds the ISTIO chains", nil)
        }
        return (system, "the system's iptables is iptables-\(system.rawValue)", both)
    }

    /// The backends holding capture rules other than `host`: where an apply through `host`
    /// moves the capture from.
    public func others(than host: any FirewallHost, wait: Int) -> [any FirewallHost] {
        var found: [any FirewallHost] = nftTables.isEmpty || host.name == "nft" ? [] : [NftHost()]
        for variant in IptablesVariant.allCases where iptables[variant] != nil && host.name != "iptables-\(variant.rawValue)" {
            found.append(IptablesHost(variant: variant, wait: wait))
        }
        return found
    }

    /// Capture rules in places other than the one being applied to, one sentence each.
    public func elsewhere(than host: String) -> [String] {
        var found: [String] = []
        if host != "nft", !nftTables.isEmpty {
            found.append("meshcap's nft tables (\(nftTables.joined(separator: ", "))) are present too and capture as well: remove them with `meshcap clean --backend nft`")
        }
        for (variant, families) in iptables.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where host != "iptables-\(variant.rawValue)" {
            let which = families.map { $0 == .ipv4 ? "IPv4" : "IPv6" }.joined(separator: " and ")
            found.append("iptables-\(variant.rawValue) holds ISTIO chains (\(which)) that capture as well: remove them with `meshcap clean --backend iptables --iptables-variant \(variant.rawValue)`")
        }
        return found
    }
}
