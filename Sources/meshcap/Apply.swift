import ArgumentParser
import HostOps
import MeshCapture
import NftablesBackend

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Program the rules on this host (root): one atomic nf_tables transaction, no nft binary needed.",
        discussion: """
            meshcap's three inet tables (istio-proxy-nat, -mangle, -raw) are created or replaced in one netlink \
            batch: packets see the old rules or the new ones, never a mix. Tables of other software are not \
            touched. If the kernel refuses any part, nothing changes and meshcap exits 3 naming the rule, the \
            error and the expression.

            Examples:
              meshcap apply --config /var/lib/istio/envoy/cluster.env
              meshcap apply --config cluster.env --dry-run    # print the batch, send nothing
            """)

    @OptionGroup var config: ConfigOptions

    @Option(help: "nft (netlink, the default). The iptables path comes with the live-host operations.")
    var backend: Backend = .nft

    @Flag(help: "Print the batch that would be sent and change nothing.")
    var dryRun = false

    func run() throws {
        guard backend == .nft else {
            throw ValidationError("apply supports --backend nft for now; iptables comes with the live-host operations")
        }
        let (loaded, accounts) = try config.load()
        let batch = try NetlinkBatch.replacing(with: CapturePlan(loaded).ruleset(for: .inet), resolve: accounts.resolver)
        if dryRun {
            print(batch.text, terminator: "")
            return
        }
        try NftApply.apply(batch)
    }
}
