import ArgumentParser
import Glibc
import MeshCapture

@main
struct Meshcap: ParsableCommand {
    static let release = "0.2.0"

    static let configuration = CommandConfiguration(
        commandName: "meshcap",
        abstract: "Compile, apply and verify the firewall rules that send a workload's traffic through its sidecar proxy.",
        discussion: """
            Start with `meshcap compile --config /var/lib/istio/envoy/cluster.env` (the file istioctl writes for \
            a VM), which prints iptables-restore input; `--backend nft` prints an nft script. `meshcap keys` \
            lists every config key. A VM joining the mesh: `meshcap cidr`, `meshcap doctor`, `meshcap apply`, \
            `meshcap verify`.

            Exit codes: 0 ok, 1 verification found a problem or diff found drift, 2 bad input, 3 host error.
            """,
        version: "meshcap \(release) (commit \(BuildInfo.commit))",
        subcommands: [Compile.self, Apply.self, Clean.self, Diff.self, VerifyCommand.self, Explain.self, Doctor.self, Cidr.self, Keys.self, ProbeConnect.self, KernelProbe.self, ResolveNames.self]
    )

    /// One catch for every meshcap error (each knows its exit status); ArgumentParser's usage
    /// errors exit 2, not its own 64, because the contract says 2 for any bad input.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let failure as Failure {
            Report.fail(failure.lines, status: failure.exitStatus.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            // One style for every error: "meshcap: what is wrong", without ArgumentParser's "Error: ".
            let message = fullMessage(for: error)
            Report.fail([message.hasPrefix("Error: ") ? String(message.dropFirst("Error: ".count)) : message],
                        status: code == .validationFailure ? ExitStatus.badInput.rawValue : code.rawValue)
        }
    }
}
