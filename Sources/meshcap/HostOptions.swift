import ArgumentParser
import HostOps
import MeshCapture

/// The firewall backend a host command works on.
enum BackendChoice: String, ExpressibleByArgument, CaseIterable {
    /// meshcap's three inet tables, over netlink (no nft binary needed).
    case nft
    /// ISTIO chains through iptables-restore, in the chosen variant.
    case iptables
}

extension IptablesVariant: ExpressibleByArgument {}

/// Which firewall a host command works on, and how long it waits for others.
struct HostOptions: ParsableArguments {
    @Option(help: "nft (meshcap's inet tables over netlink) or iptables. Default: what NATIVE_NFTABLES / FORCE_IPTABLES_BINARY say, else where the rules are (meshcap's nft tables, else an iptables variant holding ISTIO chains), else nft.")
    var backend: BackendChoice?

    @Option(help: "With --backend iptables: nft or legacy. Default: the variant that holds ISTIO chains, else the one the system's iptables is.")
    var iptablesVariant: IptablesVariant?

    @Option(help: ArgumentHelp("Seconds to wait for another meshcap run on this namespace, and for the xtables lock.", valueName: "seconds"))
    var wait = 10

    /// The backend and variant: flags first, then Istio's keys, then where the rules already
    /// are (so that apply, diff and verify all work on the rules a host has, and a second apply
    /// never adds a second backend's capture), then nft.
    func choose(_ run: RunSettings, residue: Residue) -> (host: any FirewallHost, backend: BackendChoice, notes: [String]) {
        // The key table accepts only "legacy" and "nft" for FORCE_IPTABLES_BINARY.
        let keyVariant = run.iptablesVariant.flatMap { setting in IptablesVariant(rawValue: setting.value).map { ($0, setting.cited) } }
        let flagVariant = iptablesVariant.map { ($0, "--iptables-variant \($0.rawValue)") }
        let told = self.backend ?? (run.nativeNftables != nil ? .nft : keyVariant != nil || iptablesVariant != nil ? .iptables : nil)
        let inIptables = residue.nftTables.isEmpty && !residue.iptables.isEmpty
        let backend = told ?? (inIptables ? .iptables : .nft)
        switch backend {
        case .nft:
            return (NftHost(), .nft, [])
        case .iptables:
            let choice = residue.variant(forced: flagVariant ?? keyVariant)
            let why = told == nil ? " (--backend nft to use nft instead)" : ""
            return (IptablesHost(variant: choice.variant, wait: wait), .iptables,
                    ["using iptables-\(choice.variant.rawValue): \(choice.reason)\(why)"] + (choice.warning.map { ["warning: " + $0] } ?? []))
        }
    }
}

extension ConfigOptions {
    /// Whether any config was given (files or istio-iptables flags), as opposed to the defaults.
    var given: Bool { !files.isEmpty || !istioFlags.isEmpty }
}

extension CapturePlan {
    /// What apply programs through `backend` (nil: every backend, for clean to recognise):
    /// resolving a layout no host uses costs as much as compiling it.
    func desired(_ accounts: AccountDatabase, for backend: BackendChoice?) -> DesiredState {
        let layouts: [Layout] = (backend != .iptables ? [.inet] : []) + (backend != .nft ? config.families.sorted().map { .xtables($0) } : [])
        return DesiredState(rulesets: layouts.map { ruleset(for: $0) }, routing: routing, resolve: accounts.resolver)
    }
}
