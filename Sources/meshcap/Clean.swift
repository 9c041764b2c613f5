import HostOps
import MeshCapture

struct Clean: Subcommand {
    static let spec = CommandSpec(
        name: "clean",
        abstract: "Remove meshcap's rules and routing, and what Istio's istio-iptables left behind (root).",
        discussion: """
            Removes meshcap's inet tables, the ISTIO chains and the jumps into them in nat, mangle and raw (both \
            iptables variants, both families), meshcap's rules in the built-in chains, and its policy routing. \
            Other software's rules are not touched. Give the config Istio applied (its cluster.env) to also \
            remove Istio's other rules in the built-in chains and its TPROXY routing. On a clean host it \
            changes nothing and exits 0.

            Examples:
              meshcap clean
              meshcap clean --config /var/lib/istio/envoy/cluster.env    # also Istio's leftovers of that config
              meshcap clean --backend iptables --iptables-variant legacy --dry-run
            """,
        options: ConfigOptions.options + HostOptions.options + [
            OptionSpec("dry-run", help: "Print exactly what would be sent and change nothing."),
        ],
        operands: ConfigOptions.operands)

    let config: ConfigOptions
    let host: HostOptions
    let dryRun: Bool

    init(_ arguments: Arguments) throws {
        config = try ConfigOptions(arguments)
        host = try HostOptions(arguments)
        dryRun = arguments.flag("dry-run")
    }

    func run() throws {
        // Without a config, the last apply's, so its routing goes even where the kernel kept no tag on it.
        let onHost = try config.loadOnHost(host, locking: dryRun ? .never : .hold)
        let recognising = onHost.hasConfig ? CapturePlan(onHost.loaded.config).desired(onHost.accounts, in: nil) : nil
        try Self.clean(recognising: recognising, hosts: host, only: host.backend, dryRun: dryRun, holding: onHost.lock)
    }

    /// Cleans every backend asked for (all by default); shared with apply's CLEANUP_ONLY.
    ///
    /// The policy routing goes too when everything is cleaned, or when no capture rules are left
    /// in any backend afterwards: TPROXY rules left in another backend still need their route.
    /// Journaled as one operation: killed half-way, the next run says so and `clean` completes it.
    /// - Parameter held: the namespace's lock, when the caller holds it already (a second one
    ///   taken by the same process would wait for the first).
    static func clean(recognising: DesiredState?, hosts options: HostOptions, only: BackendChoice?, dryRun: Bool, holding held: HostLock? = nil) throws {
        let lock = try held ?? (dryRun ? nil : HostLock(wait: Double(options.wait)))
        let journal = options.site.journal()
        var firewalls: [any FirewallHost] = []
        if only != .iptables, options.site.hasNft { firewalls.append(try options.firewall(.nft)) }
        if only != .nft {
            // Unless one is named, the variants whose tools this host has.
            let variants = options.iptablesVariant.map { [$0] } ?? options.site.installedVariants
            firewalls += try variants.map { try options.firewall(.iptables, variant: $0) }
        }
        let everything = only == nil && options.iptablesVariant == nil
        var said: [String] = []
        func report() {
            if said.isEmpty {
                Report.say(["nothing to clean: no rules or routing of meshcap's or Istio's in this network namespace"])
            } else {
                Report.say([dryRun ? "would remove:" : "removed:"] + said)
            }
        }
        // The routing and the journal are the namespace's, whichever firewalls are cleaned.
        let routing = try options.session(firewalls.first ?? options.firewall(.iptables), journal: journal)
        func removeEverything(_ changed: inout Bool) throws {
            var warnings: [String] = []
            for firewall in firewalls {
                let outcome = try options.session(firewall, journal: journal).clean(recognising: recognising, dryRun: dryRun)
                if dryRun { print(outcome.firewallText, terminator: "") }
                said += outcome.firewall.map { "  \(firewall.name): \($0)" }
                warnings += outcome.warnings
                changed = changed || !outcome.firewall.isEmpty
            }
            let remaining = dryRun || everything ? [] : options.site.residue().elsewhere(than: "")
            if remaining.isEmpty {
                let routes = try routing.cleanRouting(recognising: recognising, dryRun: dryRun)
                if dryRun && !routes.isEmpty { print("# routing over rtnetlink, as ip would be told:\n" + routes.joined(separator: "\n")) }
                said += routes.map { "  \($0)" }
            } else {
                // Listed, not removed: a dry run of the removal.
                let kept = try routing.cleanRouting(recognising: recognising, dryRun: true)
                if !kept.isEmpty { Report.say(["policy routing kept (\(kept.count) entries): capture rules remain elsewhere and may need it"]) }
            }
            Report.warning(warnings)
        }
        do {
            if dryRun {
                var changed = false
                try removeEverything(&changed)
            } else {
                if let intent = journal.intent() {
                    Report.warning(["\(intent) was interrupted, and the rules may be half changed: this clean removes whatever it left"])
                }
                // The record of the last apply goes with its rules: all of them, or its backend's.
                let forgetting = everything || journal.appliedBackend.map { name in firewalls.contains { $0.name == name } } ?? true
                try routing.journaled(.clean, backend: everything ? "every backend" : firewalls.map(\.name).joined(separator: " and "),
                                      forgetting: forgetting, removeEverything)
            }
        } catch {
            // What was removed before the failure is still removed: say so.
            report()
            throw error
        }
        withExtendedLifetime(lock) {}
        report()
    }
}
