/// What istio-iptables' run-mode keys ask a command to do, each with the setting that asked, so
/// a message can say why meshcap did not do what the command name suggests.
public struct RunSettings: Sendable, Hashable {
    /// DRY_RUN, `-n`: print what would be applied, change nothing.
    public var dryRun: Setting?
    /// SKIP_RULE_APPLY: change nothing.
    public var skipRuleApply: Setting?
    /// CLEANUP_ONLY: remove the rules instead of applying them.
    public var cleanupOnly: Setting?
    /// NETWORK_NAMESPACE: the namespace to program.
    public var networkNamespace: Setting?
    /// NATIVE_NFTABLES: program nftables.
    public var nativeNftables: Setting?
    /// FORCE_IPTABLES_BINARY: the iptables variant ("legacy" or "nft").
    public var iptablesVariant: Setting?

    public init() {}
}
