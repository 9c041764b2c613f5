import HostOps
import MeshCapture
import Verify

struct Diff: Subcommand {
    static let spec = CommandSpec(
        name: "diff",
        abstract: "Compare the live rules (root), or a saved dump (--from), with what apply would make: exit 0 when equal, 1 with a unified diff when not.",
        discussion: """
            The diff is in the backend's own syntax (nft statements, or iptables-save lines), '-' for what is live \
            and '+' for what the config makes, with the policy routing below. Other software's rules that see \
            packets before meshcap's are named too. meshcap's rules in another backend (or iptables variant) \
            are drift as well: they capture the same packets. Without a config, the one the last apply \
            recorded (/run/meshcap) is compared; an apply or clean interrupted half-way is exit 1 too.

            Examples:
              meshcap diff --config cluster.env
              meshcap diff                                  # against the config of the last apply
              meshcap diff --config cluster.env --backend iptables
              meshcap diff --from vm1-iptables-save.txt --config cluster.env   # a saved dump, no root
            """,
        options: ConfigOptions.options + HostOptions.options + [
            OptionSpec("from", .single(name: "file", completion: .file),
                       help: "Compare a saved dump with the config instead of this host, or - for standard input: the formats verify --from reads. A dump holds no policy routing: it is not compared."),
        ],
        operands: ConfigOptions.operands)

    let config: ConfigOptions
    let host: HostOptions
    let from: String?

    init(_ arguments: Arguments) throws {
        config = try ConfigOptions(arguments)
        host = try HostOptions(arguments)
        from = try arguments.value("from")
        if from != nil && !config.given {
            throw ConfigError(origin: .flag("--from"), message: "--from compares a saved dump with a config; allowed: --config FILE (the VM's cluster.env) or istio-iptables flags with it")
        }
        if from != nil && host.netns != nil {
            throw ConfigError(origin: .flag("--netns"), message: "--from reads a saved dump, not a namespace; allowed: --netns or --from, not both")
        }
        if from == "-" && config.files.contains("-") {
            throw ConfigError(origin: .flag("--from"), message: "--from - and --config -: only one can be standard input")
        }
    }

    func run() throws {
        if let from { return try compareDump(from) }
        let onHost = try config.loadOnHost(host, locking: .whenInterrupted)
        let (loaded, accounts, interrupted) = (onHost.loaded, onHost.accounts, onHost.interrupted)
        // Istio's defaults capture nothing: a diff against them only lists the live rules as extra.
        guard onHost.hasConfig else {
            throw ConfigError(origin: nil, message: "no config given, and none recorded in this network namespace (apply records the one it puts in force); allowed: --config FILE (the VM's cluster.env) or istio-iptables flags")
        }
        let plan = CapturePlan(loaded.config)
        let residue = host.site.residue()
        let (firewall, notes) = try host.choose(loaded.run, residue: residue)
        let desired = plan.desired(accounts, in: firewall.dialect)
        Report.say(notes)
        let live = try firewall.observation()
        let routing = try host.site.routing().observe()
        let liveRouting = routing.filter { $0.tagged || desired.routing.contains($0.entry) }.map(\.entry.description).sorted()
        let wantedRouting = desired.routing.map(\.description).sorted()
        func lines(_ view: String, _ routing: [String]) -> [String] {
            view.split(separator: "\n").map(String.init) + (routing.isEmpty ? [] : ["# routing"] + routing)
        }
        // The comparison verify makes: its drift is diff's too. The text shows both sides in the
        // dialect's syntax, and also what apply would change that capture does not depend on
        // (Istio's jumps without meshcap's comment, which apply rewrites with it).
        let dialect = firewall.dialect
        let comparison = Comparison(CounterReading(source: firewall.name, dialect: dialect, rules: live.rules, chains: live.chains), desired: desired)
        let expected = comparison.expected ?? ([], [])
        let left = lines(dialect.view(of: live.rules, chains: live.chains), liveRouting)
        let right = lines(dialect.view(of: expected.rules, chains: expected.chains), wantedRouting)
        let elsewhere = residue.elsewhere(than: firewall.name)
        Report.warning(live.ahead.map(\.sentence) + elsewhere)
        let diff = UnifiedDiff.of(left, right, oldLabel: "live (\(firewall.name))", newLabel: "config")
        if let drift = comparison.driftSentence {
            Report.say(["the live rules (\(firewall.name)) are not the config's: \(drift)"])
        }
        if comparison.uncounted > 0 {
            Report.say(["\(comparison.uncounted) of the live rules (\(firewall.name)) have no counter (Istio's nftables rules had none until istio/istio#57216): apply replaces them with the same rules that count"])
        }
        if let interrupted {
            Report.warning(["\(interrupted) was interrupted before it ended: the rules may be half changed (`meshcap \(interrupted.operation?.rawValue ?? "apply")` completes it)"])
        }
        if diff.isEmpty && interrupted == nil && !comparison.drifted && comparison.uncounted == 0 {
            // Capture rules in another backend are drift too: packets are captured twice.
            guard !elsewhere.isEmpty else {
                Report.say(["no drift: the live rules (\(firewall.name)) are this config's"])
                return
            }
            Report.say(["the live rules (\(firewall.name)) are this config's, but other capture rules are live as well (above)"])
            throw ProblemFound()
        }
        if diff.isEmpty && interrupted != nil {
            Report.say(["the live rules (\(firewall.name)) are this config's, but the journal says an operation did not end (above)"])
        }
        print(diff, terminator: "")
        throw ProblemFound()
    }

    /// A saved dump against the config: the comparison and the two views verify and a live diff
    /// make, from the dump's rules and chains.
    func compareDump(_ path: String) throws {
        let reading = try VerifyCommand.readDump(path)
        let (loaded, accounts) = try config.load()
        let desired = CapturePlan(loaded.config).desired(accounts, in: reading.dialect)
        let comparison = Comparison(reading, desired: desired)
        let expected = comparison.expected ?? ([], [])
        let dialect = reading.dialect
        let diff = UnifiedDiff.of(dialect.view(of: reading.rules, chains: reading.chains ?? []).split(separator: "\n").map(String.init),
                                  dialect.view(of: expected.rules, chains: expected.chains).split(separator: "\n").map(String.init),
                                  oldLabel: reading.source, newLabel: "config")
        Report.warning(reading.ahead.map(\.sentence) + reading.elsewhere)
        guard comparison.drifted || comparison.uncounted > 0 || !diff.isEmpty else {
            return Report.say(["no drift: the rules in \(reading.source) are this config's"])
        }
        if let drift = comparison.driftSentence { Report.say(["the rules in \(reading.source) are not the config's: \(drift)"]) }
        if comparison.uncounted > 0 {
            Report.say(["\(comparison.uncounted) of its rules have no counter (Istio's nftables rules had none until istio/istio#57216): apply writes the same rules with counters"])
        }
        print(diff, terminator: "")
        throw ProblemFound()
    }
}
