import CNftnl
import MeshCapture
import NftablesBackend

/// Finding the residue on this host, and what an apply moves the capture from.
extension Residue {
    /// Reads without creating anything and without running a program: one netlink chain dump
    /// shows meshcap's nft tables and iptables-nft's ISTIO chains (its tables are nf_tables
    /// ones); the legacy tables the kernel lists are asked for their chain names directly.
    public static func find() -> Residue {
        let chains = (try? RuleDump.allChains()) ?? []
        let tables = chains.filter { $0.family == UInt32(NFPROTO_INET) && NftDialect.tables.contains($0.table) }.map(\.table)
        var iptables: [IptablesVariant: [Family]] = [:]
        for family in Family.allCases
        where chains.contains(where: { $0.family == family.nfproto && ChainName.istioChains.contains(.regular($0.name)) }) {
            iptables[.nft, default: []].append(family)
        }
        for family in Family.allCases {
            // Chain names straight from the kernel: no iptables-legacy-save per run.
            let chains = IptablesHost.legacyTables(family).flatMap { (try? LegacyTables.names($0, family: family)) ?? [] }
            if chains.contains(where: { ChainName.istioChains.contains(.regular($0)) }) {
                iptables[.legacy, default: []].append(family)
            }
        }
        return Residue(nftTables: tables.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }, iptables: iptables)
    }

    /// The variant an iptables apply should use, and why; a warning when both hold ISTIO chains.
    /// - Parameter forced: the variant the user named, and where they named it.
    /// - Parameter systemVariant: the variant the host's `iptables` command is.
    public func variant(forced: (variant: IptablesVariant, by: String)?, systemVariant: IptablesVariant?) -> (variant: IptablesVariant, reason: String, warning: String?) {
        let holding = IptablesVariant.allCases.filter { iptables[$0] != nil }
        let both = holding.count == 2
            ? "ISTIO chains are in both iptables variants (iptables-nft and iptables-legacy): the kernel runs both, and `iptables -t nat -L` shows only one; remove the other with `meshcap clean --backend iptables --iptables-variant X`"
            : nil
        if let forced { return (forced.variant, forced.by, both) }
        let system = systemVariant ?? .nft
        if holding.count == 1, let only = holding.first {
            return (only, "iptables-\(only.rawValue) already holds the ISTIO chains", nil)
        }
        return (system, "the system's iptables is iptables-\(system.rawValue)", both)
    }
}
