import HostOps
import MeshCapture

struct Apply: Subcommand {
    static let spec = CommandSpec(
        name: "apply",
        abstract: "Program the rules on this host (root): idempotent, atomic per table, other software's rules untouched.",
        discussion: """
            nft (default): meshcap's three inet tables are replaced in one netlink batch, bound to the ruleset \
            generation read before it was built (a concurrent writer makes the kernel refuse it; meshcap reads \
            again and retries once). iptables: one iptables-restore transaction per table and family; meshcap's \
            rules in the built-in chains carry the comment "meshcap" and are replaced in place; a failure puts \
            the tables already changed back. Either way a second apply of the same config changes nothing. In \
            TPROXY mode the policy routing (ip rule fwmark, local route table) is programmed too.

            Every apply is journaled in /run/meshcap: killed half-way, the next verify reports it (exit 1) and \
            the next apply completes it; SIGTERM, SIGINT, SIGHUP and SIGQUIT wait until the change is done. With no \
            config, apply completes an interrupted apply, or puts the last applied config back.

            istio-iptables' own switches mean here what they mean there: DRY_RUN (-n) prints instead of \
            applying, SKIP_RULE_APPLY changes nothing, CLEANUP_ONLY removes the rules (meshcap clean).

            Examples:
              meshcap apply --config /var/lib/istio/envoy/sidecar.env --config /var/lib/istio/envoy/cluster.env
              meshcap apply --config cluster.env --backend iptables        # iptables-nft or -legacy, as the host has it
              meshcap apply --config cluster.env --dry-run                 # print exactly what would be sent
              meshcap apply                                                # complete an interrupted apply, or re-apply the last config
            """,
        options: ConfigOptions.options + HostOptions.options + [
            OptionSpec("dry-run", help: "Print exactly what would be sent (against the live rules) and change nothing."),
            OptionSpec("allow-no-capture", help: "Apply a config that sends nothing to the proxy (no service CIDR, no inbound port, no DNS capture): only the proxy's bypass rules. verify still reports nothing-captured."),
        ],
        operands: ConfigOptions.operands)

    let config: ConfigOptions
    let host: HostOptions
    let dryRun: Bool
    let allowNoCapture: Bool

    init(_ arguments: Arguments) throws {
        config = try ConfigOptions(arguments)
        host = try HostOptions(arguments)
        dryRun = arguments.flag("dry-run")
        allowNoCapture = arguments.flag("allow-no-capture")
    }

    func run() throws {
        // A plain `meshcap apply` completes an interrupted apply, or puts the last one back.
        let onHost = try config.loadOnHost(host, locking: dryRun ? .never : .hold)
        let (loaded, accounts, lock, journal) = (onHost.loaded, onHost.accounts, onHost.lock, onHost.journal)
        if let skip = loaded.run.skipRuleApply {
            Report.say(["\(skip.cited): nothing was applied"])
            return
        }
        let dryRun = self.dryRun || loaded.run.dryRun != nil
        if let interrupted = onHost.interrupted, !dryRun {
            Report.warning(["\(interrupted) was interrupted, and the rules may be half changed: this apply puts \(config.given ? "the given config" : "that config") in force whole"])
        }
        let run = loaded.run
        let plan = CapturePlan(loaded.config)
        if let cleanup = run.cleanupOnly {
            Report.say(["\(cleanup.cited): removing the rules instead of applying them"])
            try Clean.clean(recognising: plan.desired(accounts, in: nil), hosts: host, only: host.backend, dryRun: dryRun, holding: lock)
            return
        }
        if plan.config.capturesNothing && !allowNoCapture {
            guard onHost.hasConfig else {
                throw ConfigError(origin: nil, message: "no config given, and none recorded in this network namespace (apply records the one it puts in force); nothing was changed; allowed: --config FILE (the VM's cluster.env) or istio-iptables flags")
            }
            let read = onHost.recorded.map { [$0] } ?? config.files
            throw ConfigError(origin: nil, message: "the config sends nothing to the proxy: \(InterceptConfig.captureKeys) are all empty or off"
                + " (read: \(read.isEmpty ? "istio-iptables flags only" : read.joined(separator: ", "))); nothing was changed; allowed: a service CIDR or inbound ports"
                + " (istioctl writes them into cluster.env), or --allow-no-capture to apply the proxy's bypass rules alone")
        }
        Report.warning(SSHPorts(config: SSHPorts.defaultConfig, given: false).lockOuts(plan).map { "\($0.sentence); fix: \($0.fix)" })
        if let asked = run.dryRun, !self.dryRun { Report.say(["\(asked.cited): printing what would be sent instead of applying it"]) }
        let residue = host.site.residue()
        let (firewall, notes) = try host.choose(run, residue: residue, moving: true)
        Report.say(notes + plan.listNotes(for: firewall.dialect.layouts([.ipv4])[0]))
        // Capture in another backend or iptables variant moves here: two at once capture twice.
        let others = try host.site.others(than: firewall, in: residue, wait: host.wait)
        if !others.isEmpty {
            Report.say(["capture rules are in \(others.map(\.name).joined(separator: " and ")) too: they are removed once \(firewall.name)'s are in force"])
        }
        let session = try host.session(firewall, journal: journal)
        // Every backend's layouts, to recognise the rules moved out of the others: only when there
        // are any (the iptables layout of 10,000 prefixes is 10,000 rules to build for nothing).
        let outcome = try session.apply(plan.desired(accounts, in: firewall.dialect), record: Journal.record(plan.config, host: firewall),
                                        moving: others, recognising: others.isEmpty ? nil : plan.desired(accounts, in: nil), dryRun: dryRun)
        withExtendedLifetime(lock) {}
        if outcome.changedNothing {
            Report.say(["no change: the live rules (\(firewall.name)) already are this config's" + (dryRun ? "; nothing would be sent" : "")])
        } else if dryRun {
            print(outcome.firewallText, terminator: "")
            if !outcome.routing.isEmpty { print("# routing over rtnetlink, as ip would be told:\n" + outcome.routing.joined(separator: "\n")) }
        } else {
            Report.say(["applied with \(firewall.name)" + (outcome.retries > 0 ? " (read again after another program changed the ruleset)" : "") + ":"]
                       + (outcome.firewall + outcome.routing).map { "  " + $0 })
        }
        Report.warning(outcome.warnings + outcome.ahead)
        if let logging = plan.config.logging, logging.group == nil, !dryRun, NetworkNamespace.kernelLogIsOffHere {
            Report.warning(["--log writes to the kernel log, which the kernel keeps off in a network namespace other than the host's (unless the host's net.netfilter.nf_log_all_netns is 1): nothing will be logged from here; --log-group N sends the messages to an nfnetlink_log group instead (ulogd2, or tcpdump -ni nflog:N -XX)"])
        }
    }
}
