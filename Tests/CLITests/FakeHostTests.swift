import Foundation
import Testing
import TestSupport

/// apply, diff, verify, explain --live and clean run by the built binary against the stand-in
/// host (`MESHCAP_FAKE_HOST`, the dialect's own restore steps applied to tables kept in a
/// directory), as an ordinary user: what meshcap decides, without root and without a kernel.
/// The kernel suite judges the rules themselves.
@Suite struct FakeHostTests {
    /// A fake host's directory, writable by the user meshcap runs as.
    struct FakeHost {
        let directory: URL

        init() throws {
            directory = try temporaryDirectory("fake-host")
            chmod(directory.path, 0o777)
        }

        var state: URL { directory.appendingPathComponent("iptables-ipv4.save") }

        /// Runs meshcap on this host; as nobody when the tests run as root.
        func meshcap(_ arguments: [String]) throws -> ProcessResult {
            var environment = ProcessInfo.processInfo.environment
            environment["MESHCAP_FAKE_HOST"] = directory.path
            guard geteuid() == 0 else { return try run(TestSupport.meshcap, arguments, environment: environment) }
            return try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", try FakeHostTests.binary()] + arguments,
                           environment: environment)
        }

        /// A config file in the host's directory.
        func config(_ text: String) throws -> [String] {
            let file = directory.appendingPathComponent("cluster-\(UUID()).env")
            try text.write(to: file, atomically: true, encoding: .utf8)
            chmod(file.path, 0o644)
            return ["--config", file.path]
        }

        /// The host's IPv4 tables as iptables-save prints them, edited.
        func edit(_ change: (inout [String]) -> Void) throws {
            var lines = try String(contentsOf: state, encoding: .utf8).split(separator: "\n").map(String.init)
            change(&lines)
            try (lines.joined(separator: "\n") + "\n").write(to: state, atomically: true, encoding: .utf8)
        }

        /// verify's problem kinds, from its JSON.
        func problems(_ config: [String]) throws -> (status: Int32, kinds: [String], json: [String: Any]) {
            let result = try meshcap(["verify", "--json"] + config)
            let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
            let kinds = (json["problems"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
            return (result.status, kinds, json)
        }
    }

    /// The built meshcap where nobody can run it (the checkout may sit where nobody cannot
    /// reach, a clone under /root): copied once into a directory of its own.
    static func binary() throws -> String {
        try copied.get()
    }

    private static let copied = Result<String, any Error> {
        let directory = try temporaryDirectory("fake-host-bin")
        chmod(directory.path, 0o755)
        let copy = directory.appendingPathComponent("meshcap").path
        try FileManager.default.copyItem(atPath: TestSupport.meshcap, toPath: copy)
        chmod(copy, 0o755)
        return copy
    }

    static let clusterEnv = "ISTIO_SERVICE_CIDR=10.96.0.0/12\nISTIO_INBOUND_PORTS=8080,9090\nISTIO_LOCAL_EXCLUDE_PORTS=22\n"

    @Test func theWholeJourneyRunsWithoutRoot() throws {
        let host = try FakeHost()
        defer { try? FileManager.default.removeItem(at: host.directory) }
        let config = try host.config(Self.clusterEnv)

        let applied = try host.meshcap(["apply"] + config)
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stderr.contains("applied with iptables-nft:"), "\(applied.stderr)")
        let saved = try String(contentsOf: host.state, encoding: .utf8)
        #expect(saved.contains("-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001"), "\(saved)")
        #expect(FileManager.default.fileExists(atPath: host.directory.appendingPathComponent("journal/applied.env").path))

        let again = try host.meshcap(["apply"] + config)
        #expect(again.status == 0 && again.stderr.contains("no change"), "\(again.stderr)")
        #expect(try String(contentsOf: host.state, encoding: .utf8) == saved, "a second apply changed the tables")

        let diff = try host.meshcap(["diff"])
        #expect(diff.status == 0 && diff.stderr.contains("no drift"), "without a config, diff compares with the recorded one: \(diff.stderr)\(diff.stdout)")
        let healthy = try host.problems([])
        #expect(healthy.status == 0 && healthy.kinds.isEmpty, "\(healthy.kinds)")

        // Traffic, as the kernel would count it: 7 connections redirected to the proxy.
        try host.edit { lines in
            lines = lines.map { $0.hasSuffix("-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001") ? "[7:420] -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001" : $0 }
        }
        let counted = try host.problems(config)
        let totals = counted.json["totals"] as? [[String: Any]] ?? []
        #expect(totals.contains { $0["direction"] as? String == "outbound" && $0["captured"] as? Int == 7 }, "\(totals)")

        let explained = try host.meshcap(["explain", "--live", "--direction", "outbound", "--dst", "10.96.0.10:443"] + config)
        #expect(explained.status == 0 && explained.stdout.contains("outcome: redirected to port 15001"), "\(explained.stdout)\(explained.stderr)")

        // A rule deleted by hand: diff shows it, verify calls it drift, apply puts it back.
        try host.edit { lines in lines.removeAll { $0.contains("-A ISTIO_INBOUND -p tcp -m tcp --dport 9090") } }
        let drifted = try host.meshcap(["diff"] + config)
        #expect(drifted.status == 1 && drifted.stdout.contains("+-A ISTIO_INBOUND -p tcp -m tcp --dport 9090"), "\(drifted.stdout)")
        #expect(try host.problems(config).kinds.contains("drift"))
        #expect(try host.meshcap(["apply"] + config).status == 0)
        #expect(try host.meshcap(["diff"] + config).status == 0)

        let cleaned = try host.meshcap(["clean"])
        #expect(cleaned.status == 0, "\(cleaned.stderr)")
        let left = try String(contentsOf: host.state, encoding: .utf8)
        #expect(!left.contains("ISTIO") && !left.contains("meshcap"), "\(left)")
        #expect(try host.problems([]).kinds == ["no-rules"])
    }

    /// Random configs, applied, then one rule deleted, duplicated or moved by hand: diff and
    /// verify both call it drift, and neither does before the tampering.
    @Test func diffAndVerifyAgreeOnTamperedRules() throws {
        var random = SeededRandom.forTest("diffAndVerifyAgreeOnTamperedRules")
        let seed = SeededRandom.seed
        for round in 0..<12 {
            let host = try FakeHost()
            defer { try? FileManager.default.removeItem(at: host.directory) }
            var env = "ISTIO_SERVICE_CIDR=\(["10.96.0.0/12", "172.20.0.0/16,10.0.0.0/8", "*", "192.168.0.0/24"].randomElement(using: &random)!)\n"
            env += "ISTIO_INBOUND_PORTS=\(["8080", "*", "80,443,8080", ""].randomElement(using: &random)!)\n"
            env += "ISTIO_LOCAL_EXCLUDE_PORTS=\(["", "22", "22,15090"].randomElement(using: &random)!)\n"
            env += "ISTIO_INBOUND_INTERCEPTION_MODE=\(["REDIRECT", "TPROXY"].randomElement(using: &random)!)\n"
            if Bool.random(using: &random) { env += "ISTIO_META_DNS_CAPTURE=true\n" }
            let config = try host.config(env)
            let applied = try host.meshcap(["apply"] + config)
            try #require(applied.status == 0, "seed \(seed) round \(round): \(env)\n\(applied.stderr)")
            #expect(try host.meshcap(["diff"] + config).status == 0, "seed \(seed) round \(round): drift right after apply\n\(env)")
            #expect(try host.problems(config).kinds.isEmpty, "seed \(seed) round \(round): verify found a problem right after apply\n\(env)")

            // One of meshcap's rules in its own chains, changed by hand.
            let tampering = ["delete", "duplicate", "move"].randomElement(using: &random)!
            var changed = ""
            try host.edit { lines in
                let ours = lines.indices.filter { lines[$0].contains("] -A ISTIO_") }
                guard let at = ours.randomElement(using: &random) else { return }
                changed = lines[at]
                switch tampering {
                case "delete": lines.remove(at: at)
                case "duplicate": lines.insert(lines[at], at: at)
                default:
                    // Swapped with another rule of its chain that differs from it, else deleted.
                    func chain(_ line: String) -> Substring { line.split(separator: " ")[2] }
                    if let other = ours.first(where: { chain(lines[$0]) == chain(lines[at]) && lines[$0] != lines[at] }) {
                        lines.swapAt(at, other)
                        return
                    }
                    lines.remove(at: at)
                }
            }
            guard !changed.isEmpty else { continue }
            let diff = try host.meshcap(["diff"] + config)
            let verify = try host.problems(config)
            let context = "seed \(seed) round \(round): \(tampering) `\(changed)`\n\(env)"
            #expect(diff.status == 1, "diff saw no drift: \(context)")
            #expect(verify.kinds.contains("drift"), "verify saw no drift (\(verify.kinds)): \(context)")
        }
    }
}
