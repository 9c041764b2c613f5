import ArgumentParser
import HostOps
import MeshCapture

/// Drift between the live rules and the config's: exit 1, with the diff on standard output.
struct DriftFound: Failure {
    var exitStatus: ExitStatus { .problemFound }
    var lines: [String] { [] }
}

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare the live rules with what apply would make: exit 0 when equal, 1 with a unified diff when not (root).",
        discussion: """
            The diff is in the backend's own syntax (nft statements, or iptables-save lines), '-' for what is live \
            and '+' for what the config makes, with the policy routing below. Other software's rules that see \
            packets before meshcap's are named too.

            Examples:
              meshcap diff --config cluster.env
              meshcap diff --config cluster.env --backend iptables
            """)

    @OptionGroup var config: ConfigOptions
    @OptionGroup var host: HostOptions

    func run() throws {
        let (loaded, accounts) = try config.load()
        let plan = CapturePlan(loaded.config)
        let residue = Residue.find()
        let (firewall, backend, notes) = host.choose(loaded.run, residue: residue)
        let desired = plan.desired(accounts, for: backend)
        Report.say(notes)
        let live = try firewall.observe()
        let routing = try KernelRouting().observe()
        let liveRouting = routing.filter { $0.tagged || desired.routing.contains($0.entry) }.map(\.entry.description).sorted()
        let wantedRouting = desired.routing.map(\.description).sorted()
        let left = ([firewall.view(of: live)] + (liveRouting.isEmpty ? [] : ["# routing"] + liveRouting)).joined(separator: "\n")
        let right = ([firewall.view(of: desired)] + (wantedRouting.isEmpty ? [] : ["# routing"] + wantedRouting)).joined(separator: "\n")
        Report.warning(live.ahead + residue.elsewhere(than: firewall.name))
        let diff = UnifiedDiff.of(left + "\n", right + "\n", oldLabel: "live (\(firewall.name))", newLabel: "config")
        guard !diff.isEmpty else {
            Report.say(["no drift: the live rules (\(firewall.name)) are this config's"])
            return
        }
        print(diff, terminator: "")
        throw DriftFound()
    }
}
