import Glibc
import MeshCapture

/// Where a run's host I/O goes: this machine's kernel, or a stand-in host kept in a directory.
/// The CLI asks it for every host thing (a backend's firewall, the routing, where capture rules
/// are, the journal), so `MESHCAP_FAKE_HOST=DIR` runs every host command against the fake
/// (`FakeIptables`, `FakeRouting`) without root: how the CLI suite tests apply, diff, verify,
/// clean and explain --live as an ordinary user. The fake has the iptables dialect only.
public enum Site: Sendable {
    case kernel
    case fake(directory: String)

    /// The kernel, unless MESHCAP_FAKE_HOST names a directory.
    public static var current: Site {
        guard let value = getenv("MESHCAP_FAKE_HOST").map({ String(cString: $0) }), !value.isEmpty else { return .kernel }
        return .fake(directory: value)
    }

    public var isFake: Bool { if case .fake = self { true } else { false } }

    /// Whether the nft backend is there (the fake has iptables only): the default backend.
    public var hasNft: Bool { !isFake }

    /// The nft host. The fake has none: asked for it, it says so.
    public func nft() throws -> any FirewallHost {
        guard case .fake = self else { return NftHost() }
        throw HostError("the fake host (MESHCAP_FAKE_HOST) has the iptables backend only: --backend iptables")
    }

    public func iptables(_ variant: IptablesVariant, wait: Int) throws -> any FirewallHost {
        switch self {
        case .kernel: IptablesHost(variant: variant, wait: wait)
        case .fake(let directory): try FakeIptables(variant: variant, directory: directory)
        }
    }

    /// The iptables variants whose tools the host has (the fake: iptables-nft).
    public var installedVariants: [IptablesVariant] {
        isFake ? [.nft] : IptablesVariant.allCases.filter(\.isInstalled)
    }

    /// The variant the host's `iptables` command is.
    public var systemVariant: IptablesVariant? { isFake ? .nft : IptablesVariant.system() }

    public func routing() throws -> any RoutingHost {
        switch self {
        case .kernel: KernelRouting()
        case .fake(let directory): try FakeRouting(directory: directory)
        }
    }

    /// Where capture rules are (`Residue.find` on the kernel).
    public func residue() -> Residue {
        switch self {
        case .kernel:
            return Residue.find()
        case .fake(let directory):
            let saves = (try? FakeIptables(directory: directory).state) ?? [:]
            let holding = Family.allCases.filter { family in
                saves[family]?.tables.contains { $0.chains.contains { ChainName.istioChains.contains(.regular($0.name)) } } ?? false
            }
            return Residue(nftTables: [], iptables: holding.isEmpty ? [:] : [.nft: holding])
        }
    }

    /// The journal of the network namespace this thread is in (the fake's: in its directory).
    public func journal() -> Journal {
        switch self {
        case .kernel: Journal.here()
        case .fake(let directory): Journal(directory: "\(directory)/journal")
        }
    }

    /// The backends holding capture rules other than `host`: where an apply through `host`
    /// moves the capture from.
    public func others(than host: any FirewallHost, in residue: Residue, wait: Int) throws -> [any FirewallHost] {
        var found: [any FirewallHost] = residue.nftTables.isEmpty || host.name == "nft" ? [] : [try nft()]
        for variant in IptablesVariant.allCases where residue.iptables[variant] != nil && host.name != "iptables-\(variant.rawValue)" {
            found.append(try iptables(variant, wait: wait))
        }
        return found
    }
}
