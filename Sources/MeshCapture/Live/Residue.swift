/// The two iptables implementations a host may use: `iptables-nft` (rules in nf_tables tables
/// `ip nat` ...) and `iptables-legacy` (the x_tables kernel tables). Both can hold rules at once,
/// and both are run by the kernel: capture "does nothing" when Istio's chains sit in the one the
/// operator does not look at.
public enum IptablesVariant: String, Sendable, CaseIterable {
    case nft
    case legacy
}

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

    /// Capture rules in places other than the one being applied to, one sentence each.
    public func elsewhere(than host: String) -> [String] {
        var found: [String] = []
        if host != "nft", !nftTables.isEmpty {
            found.append("meshcap's nft tables (\(nftTables.joined(separator: ", "))) are present too and capture as well: remove them with `meshcap clean --backend nft`")
        }
        for (variant, families) in iptables.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where host != "iptables-\(variant.rawValue)" {
            let which = families.map(\.label).joined(separator: " and ")
            found.append("iptables-\(variant.rawValue) holds ISTIO chains (\(which)) that capture as well: remove them with `meshcap clean --backend iptables --iptables-variant \(variant.rawValue)`")
        }
        return found
    }
}
