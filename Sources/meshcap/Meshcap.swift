import ArgumentParser
import Glibc
import HostOps
import MeshCapture
import NftablesBackend

@main
struct Meshcap: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meshcap",
        abstract: "Compile, apply and verify the firewall rules that send a workload's traffic through its sidecar proxy.",
        discussion: """
            Start with `meshcap compile --config Rules/vm-mesh-expansion.env`, which prints iptables-restore \
            input; `--backend nft` prints an nft script. `meshcap keys` lists every config key.

            Exit codes: 0 ok, 1 verification found a problem or diff found drift, 2 bad input, 3 host error.
            """,
        subcommands: [Compile.self, Apply.self, Keys.self]
    )

    /// ArgumentParser exits 64 on a usage error; meshcap's contract is 2 for any bad input.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let errors as ConfigErrors {
            fail(errors.errors.map(\.description), code: ExitCodes.badInput)
        } catch let error as ConfigError {
            fail([error.description], code: ExitCodes.badInput)
        } catch let error as UnresolvedOwner {
            fail([error.description], code: ExitCodes.badInput)
        } catch let error as HostError {
            fail([error.description], code: ExitCodes.hostError)
        } catch let refused as BatchRefused {
            fail([refused.description], code: ExitCodes.hostError)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            fail([fullMessage(for: error)], code: code == .validationFailure ? ExitCodes.badInput : code.rawValue)
        }
    }

    static func fail(_ lines: [String], code: Int32) -> Never {
        TextFile.writeError(lines.map { "meshcap: \($0)\n" }.joined())
        Glibc.exit(code)
    }
}

enum ExitCodes {
    static let badInput: Int32 = 2
    static let hostError: Int32 = 3
}
