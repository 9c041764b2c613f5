import Foundation
import Testing
import TestSupport

@Suite struct CompileTests {
    let profile = packageRoot.appendingPathComponent("Rules/dual-stack.env").path

    /// Each run is a new process with its own hash seed: any dictionary or set order leaking
    /// into the output would show here.
    @Test func sameInputSameBytesAcrossProcesses() throws {
        for backend in ["iptables", "nft", "netlink"] {
            let runs = try (0..<3).map { _ in try run(meshcap, ["compile", "--config", profile, "--backend", backend]).stdout }
            #expect(Set(runs).count == 1)
            #expect(!runs[0].isEmpty)
        }
    }

    @Test func outputDirectoryHoldsEveryBackendsFile() throws {
        let work = try temporaryDirectory("out")
        defer { try? FileManager.default.removeItem(at: work) }
        let result = try run(meshcap, ["compile", "--config", profile, "--output-dir", work.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: work.path).sorted() == ["rules.nft", "rules.v4", "rules.v6"])
        let printed = try run(meshcap, ["compile", "--config", profile, "--family", "ipv6"]).stdout
        #expect(try String(contentsOf: work.appendingPathComponent("rules.v6"), encoding: .utf8) == printed)
    }

    @Test func unwritableOutputDirectoryIsAHostErrorAndLeavesNoFile() throws {
        let work = try temporaryDirectory("ro")
        defer { try? FileManager.default.removeItem(at: work) }
        let blocker = work.appendingPathComponent("file")
        try "x".write(to: blocker, atomically: true, encoding: .utf8)
        let result = try run(meshcap, ["compile", "--config", profile, "--output-dir", blocker.appendingPathComponent("out").path])
        #expect(result.status == 3, "\(result.stderr)")
        #expect(result.stderr.contains("cannot create"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: work.path) == ["file"])
    }

    @Test func flagsWinOverFiles() throws {
        let result = try run(meshcap, ["compile", "--config", profile, "-p", "16001"])
        #expect(result.stdout.contains("-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 16001"))
    }

    @Test func verboseReportsIgnoredKeys() throws {
        let vm = packageRoot.appendingPathComponent("Rules/vm-mesh-expansion.env").path
        let result = try run(meshcap, ["compile", "--config", vm, "--verbose"])
        #expect(result.status == 0)
        #expect(result.stderr.contains("ISTIO_NAMESPACE is accepted and ignored"))
    }

    @Test func applyDryRunPrintsTheBatchAndSendsNothing() throws {
        let batch = try run(meshcap, ["compile", "--config", profile, "--backend", "netlink"])
        let dryRun = try run(meshcap, ["apply", "--config", profile, "--dry-run"])
        #expect(dryRun.status == 0, "\(dryRun.stderr)")
        #expect(dryRun.stdout == batch.stdout)
        #expect(batch.stdout.contains("add rule inet istio-proxy-nat istio-output # 17: ip6 daddr fd00:10:96::/112 counter jump istio-redirect"))
        #expect(batch.stdout.contains("  [ payload load 14b @ network header + 24 => reg 1 ]"))
    }

    @Test func applyRefusesTheIptablesPathForNow() throws {
        let result = try run(meshcap, ["apply", "--config", profile, "--backend", "iptables", "--dry-run"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("apply supports --backend nft for now"))
    }

    @Test func keysListsEveryIstioAndVMName() throws {
        let output = try run(meshcap, ["keys"]).stdout
        for name in ["PROXY_PORT", "ENVOY_PORT", "ISTIO_SERVICE_CIDR", "ISTIO_LOCAL_EXCLUDE_PORTS", "-b, --istio-inbound-ports", "DRY_RUN"] {
            #expect(output.contains(name), "\(name) missing")
        }
    }

    @Test func helpExplainsTheIstioFlags() throws {
        let result = try run(meshcap, ["compile", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("istio-iptables flags"))
    }
}
