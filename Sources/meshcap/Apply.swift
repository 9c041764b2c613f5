import ArgumentParser
import HostOps
import MeshCapture
import NftablesBackend

/// The backends `apply` can program.
enum ApplyBackend: String, ExpressibleByArgument, CaseIterable {
    /// meshcap's own netlink batch: one nf_tables transaction, no nft binary.
    case nft
}

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Program the rules on this host (root): one atomic nf_tables transaction, no nft binary needed.",
        discussion: """
            meshcap's three inet tables (istio-proxy-nat, -mangle, -raw) are created or replaced in one netlink \
            batch: packets see the old rules or the new ones, never a mix. Tables of other software are not \
            touched. If the kernel refuses any part, nothing changes and meshcap exits 3 naming the rule, the \
            error and the expression.

            istio-iptables' own switches mean here what they mean there: DRY_RUN (-n) prints instead of \
            applying, SKIP_RULE_APPLY changes nothing, CLEANUP_ONLY and NETWORK_NAMESPACE are refused with \
            what to run instead.

            Examples:
              meshcap apply --config /var/lib/istio/envoy/cluster.env
              meshcap apply --config cluster.env --dry-run    # print the batch, send nothing
            """)

    @OptionGroup var config: ConfigOptions

    @Option(help: "nft: meshcap's own netlink batch (no nft binary needed).")
    var backend: ApplyBackend = .nft

    @Flag(help: "Print the batch that would be sent and change nothing.")
    var dryRun = false

    func run() throws {
        let (loaded, accounts) = try config.load()
        let run = loaded.run
        if let namespace = run.networkNamespace {
            throw ConfigError(origin: namespace.origin, message: "NETWORK_NAMESPACE=\(namespace.value): meshcap apply programs the namespace it runs in; run `ip netns exec \(namespace.value) meshcap apply ...` instead")
        }
        if let cleanup = run.cleanupOnly {
            throw ConfigError(origin: cleanup.origin, message: "\(cleanup.key)=true asks to remove the rules, which apply never does; remove meshcap's tables with `nft delete table inet istio-proxy-nat` (and -mangle, -raw)")
        }
        let batch = try NetlinkBatch.replacing(with: CapturePlan(loaded.config).ruleset(for: .inet), resolve: accounts.resolver)
        if let skip = run.skipRuleApply {
            Report.say(["\(skip.cited): nothing was applied"])
            return
        }
        if let asked = run.dryRun, !dryRun { Report.say(["\(asked.cited): printing the batch instead of applying it"]) }
        if dryRun || run.dryRun != nil {
            print(batch.text, terminator: "")
            return
        }
        try NftApply.apply(batch)
    }
}
