import Foundation
import Testing
import TestSupport

/// What goes wrong on real hosts: Istio's rules left behind, a step that fails half-way, several
/// applies at once, another program writing nf_tables meanwhile, and re-applying under traffic.
@Suite struct HostRobustnessTests {
    static let cases = Prerequisites.corpus.appendingPathComponent("cases")
    static let canonGroup = Prerequisites.corpus.appendingPathComponent("canon.group").path

    /// A loader run with the corpus' fixed group database over /etc/group (its rules name groups).
    static func withCorpusGroups(_ ns: Namespace, _ command: String, input: String) throws {
        try ns.exec("unshare", "-m", "--propagation", "private", "sh", "-c", "mount --bind \"$0\" /etc/group && exec \(command)",
                    canonGroup, input: input)
    }

    /// Every case of Istio's corpus, loaded as Istio loads it (iptables-nft, iptables-legacy, nft),
    /// is removed by `meshcap clean --config CASE.env`: the namespace is as it was before.
    @Test(.needsRoot, .needsCorpus)
    func cleanRemovesWhatIstioLeftBehind() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.cases.path).filter { $0.hasSuffix(".env") }.map { String($0.dropLast(4)) }.sorted()
        var cleaned = 0
        for name in names {
            let ns = try Namespace("istio")
            let empty = try HostState(ns).withoutEmpty
            let file = { (suffix: String) in Self.cases.appendingPathComponent("\(name).\(suffix)") }
            for (suffix, variant) in [("v4.rules", "iptables"), ("v6.rules", "ip6tables")] where FileManager.default.fileExists(atPath: file(suffix).path) {
                let rules = try String(contentsOf: file(suffix), encoding: .utf8)
                try Self.withCorpusGroups(ns, "\(variant)-nft-restore --noflush", input: rules)
                try Self.withCorpusGroups(ns, "\(variant)-legacy-restore --noflush", input: rules)
            }
            try Self.withCorpusGroups(ns, "nft -f -", input: String(contentsOf: file("nft"), encoding: .utf8))
            #expect(try HostState(ns).withoutEmpty != empty, "\(name): nothing was loaded")

            let result = try meshcapIn(ns, ["clean", "--config", file("env").path, "--group-file", Self.canonGroup])
            #expect(result.status == 0, "\(name): \(result.stderr)")
            let after = try HostState(ns).withoutEmpty
            if after == empty { cleaned += 1 } else { Issue.record("\(name): clean left:\n\(after.differences(from: empty, label: name))") }
        }
        print("clean of Istio's outputs: \(cleaned)/\(names.count) corpus cases back to an empty namespace (iptables-nft, iptables-legacy, nft)")
        #expect(names.count == 22)
    }

    /// A step that fails after others went through: every table already changed is put back.
    /// The failure is a real one: another chain still jumps into an ISTIO chain the new config
    /// deletes, so the kernel refuses to delete it (the raw table, after the nat table changed).
    @Test(.needsRoot, arguments: [HostKind.iptablesNft, .iptablesLegacy])
    func aFailureInALaterTableLeavesTheRulesFromBefore(_ kind: HostKind) throws {
        let ns = try Namespace("rollback")
        let withDNS = ["--config", HostLifecycleTests.profiles.appendingPathComponent("dual-stack.env").path]
        let withoutDNS = ["-i", "10.96.0.0/12", "-b", "8080", "--ipv6"]
        #expect(try meshcapIn(ns, ["apply"] + withDNS + kind.arguments).status == 0)
        let tool = kind == .iptablesNft ? "iptables-nft" : "iptables-legacy"
        try ns.exec(tool, "-t", "raw", "-N", "SOMEONE_ELSE")
        try ns.exec(tool, "-t", "raw", "-A", "SOMEONE_ELSE", "-j", "ISTIO_OUTPUT_DNS")
        let before = try HostState(ns)

        let result = try meshcapIn(ns, ["apply"] + withoutDNS + kind.arguments)
        #expect(result.status == 3)
        #expect(result.stderr.contains("(IPv4 raw) failed"), "\(result.stderr)")
        // Tables that keep capture go before those that give it up, across families: both nat
        // tables changed before raw (which only gives up DNS capture) failed.
        #expect(result.stderr.contains("the tables already changed (IPv4 nat, IPv6 nat) were put back: the previous rules are in force"), "\(result.stderr)")
        let after = try HostState(ns)
        #expect(after == before, "the failed apply changed:\n\(after.differences(from: before, label: "after the failed apply"))")
        #expect(try meshcapIn(ns, ["diff"] + withDNS + kind.arguments).status == 0)
        // The rules are the old config's, which alone looks healthy: verify says the apply failed
        // (as the unit did) until an apply ends, here one that finds nothing to change.
        let failed = try meshcapIn(ns, ["verify"])
        #expect(failed.status == 1 && failed.stdout.contains("PROBLEM (apply-failed): an apply that started "), "\(failed.stdout)")
        #expect(failed.stdout.contains("(IPv4 raw) failed"), "\(failed.stdout)")
        #expect(try meshcapIn(ns, ["apply"] + withDNS + kind.arguments).status == 0)
        let healthy = try meshcapIn(ns, ["verify"])
        #expect(healthy.status == 0 && !healthy.stdout.contains("apply-failed"), "\(healthy.stdout)")
    }

    /// A loader that a signal ends (systemd stopping the unit's whole group) may have committed
    /// its table just before: that table is put back with the others, and the message says how
    /// the loader ended. A stand-in iptables-nft-restore kills itself the first time it runs.
    @Test(.needsRoot)
    func aLoaderKilledMidwayIsSaidAndItsTableIsPutBack() throws {
        let ns = try Namespace("killed")
        let before = ["-i", "10.96.0.0/12", "-b", "8080"]
        #expect(try meshcapIn(ns, ["apply"] + before + HostKind.iptablesNft.arguments).status == 0)
        let state = try HostState(ns)
        let work = try temporaryDirectory("killed")
        defer { try? FileManager.default.removeItem(at: work) }
        let real = try #require(["/usr/sbin/iptables-nft-restore", "/sbin/iptables-nft-restore"].first { FileManager.default.isExecutableFile(atPath: $0) })
        let fake = work.appendingPathComponent("iptables-nft-restore")
        try "#!/bin/sh\nif [ ! -e \(work.path)/once ]; then : > \(work.path)/once; kill -9 $$; fi\nexec \(real) \"$@\"\n"
            .write(to: fake, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fake.path)
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = work.path + ":" + (environment["PATH"] ?? "/usr/sbin:/usr/bin")
        let result = try meshcapIn(ns, ["apply", "-i", "10.96.0.0/12", "-b", "9090"] + HostKind.iptablesNft.arguments, environment: environment)
        #expect(result.status == 3, "\(result.stderr)")
        #expect(result.stderr.contains("iptables-nft-restore (IPv4 nat) was killed by signal 9 (SIGKILL); the tables already changed (IPv4 nat) were put back: the previous rules are in force"), "\(result.stderr)")
        #expect(try HostState(ns) == state, "the killed apply changed the namespace")
    }

    /// Ten applies of ten configs at once: they take turns, and one config's rules are in force
    /// at the end, whole.
    @Test(.needsRoot, arguments: HostKind.allCases)
    func tenConcurrentAppliesEndInOneConfig(_ kind: HostKind) throws {
        let ns = try Namespace("ten")
        let configs = (0..<10).map { ["-i", "10.96.0.0/12", "-b", String(8000 + $0), "-x", "192.0.2.\($0)/32"] }
        let results = UnsafeResults(count: configs.count)
        let name = ns.name
        DispatchQueue.concurrentPerform(iterations: configs.count) { index in
            results.set(index, try? run("ip", ["netns", "exec", name, meshcap, "apply", "--wait", "60"] + configs[index] + kind.arguments))
        }
        for (index, result) in results.values.enumerated() {
            #expect(result?.status == 0, "apply \(index): \(result?.stderr ?? "did not run")")
        }
        let matching = try configs.filter { try meshcapIn(ns, ["diff"] + $0 + kind.arguments).status == 0 }
        #expect(matching.count == 1, "\(matching.count) configs match the live rules")
    }

    /// Another program writing nf_tables all the time (a foreign table): each nft apply either
    /// lands whole (after reading again) or fails with exit 3 and leaves the rules from before.
    @Test(.needsRoot)
    func aConcurrentWriterMakesApplyRetryOrFailNeverMix() throws {
        let ns = try Namespace("writer")
        try ns.exec("nft", "add table inet churn; add chain inet churn output")
        let configs = [["-i", "10.96.0.0/12", "-b", "8080"], ["-i", "10.0.0.0/8", "-b", "9090", "-d", "22"]]
        #expect(try meshcapIn(ns, ["apply"] + configs[1]).status == 0)
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        writer.arguments = ["ip", "netns", "exec", ns.name, "python3", TestNetwork.probe, "churn", "churn", "output", "60"]
        try writer.run()
        defer {
            kill(writer.processIdentifier, SIGKILL)
            writer.waitUntilExit()
        }
        var (landed, retried, refused) = (0, 0, 0)
        var inForce = 1
        for round in 0..<20 {
            let wanted = round % 2
            let result = try meshcapIn(ns, ["apply"] + configs[wanted])
            if result.status == 0 {
                landed += 1
                inForce = wanted
                if result.stderr.contains("read again") { retried += 1 }
            } else {
                refused += 1
                #expect(result.status == 3)
                #expect(result.stderr.contains("the nf_tables ruleset changed after meshcap read it, twice"), "\(result.stderr)")
            }
            #expect(try meshcapIn(ns, ["diff"] + configs[inForce]).status == 0, "round \(round): the live rules are neither config's")
        }
        print("concurrent writer: of 20 nft applies, \(landed) landed (\(retried) after reading again), \(refused) refused with exit 3; the live rules were one config's after every one")
        #expect(retried + refused > 0, "the writer never got in the way: the generation check was not exercised")
    }

    /// Re-applying the same config and a changed one 20 times while a client keeps opening
    /// connections to a captured destination: none of them reaches the destination directly.
    @Test(.needsRoot, arguments: HostKind.allCases)
    func reapplyingUnderTrafficLetsNoConnectionEscape(_ kind: HostKind) throws {
        let network = try TestNetwork()
        try network.serve(in: network.workload, port: 15001, name: "proxy-outbound")
        try network.serve(in: network.peer, port: 8080, name: "peer")
        let service = "\(TestNetwork.peerAddress)/32"
        let configs = [["-i", service, "-b", "8080"], ["-i", service, "-b", "9090", "-x", "203.0.113.0/24", "-o", "25"]]
        #expect(try meshcapIn(network.workload, ["apply"] + configs[0] + kind.arguments).status == 0)

        let loop = try TestNetwork.ConnectionLoop(from: network.workload, to: TestNetwork.peerAddress, port: 8080, minimum: 5000)
        var applies = 0
        while applies < 20 || loop.isRunning && applies < 200 {
            let result = try meshcapIn(network.workload, ["apply"] + configs[applies % 2] + kind.arguments)
            #expect(result.status == 0, "\(result.stderr)")
            applies += 1
            if applies == 20 { loop.stop() }
        }
        let parsed = loop.finish()
        let counts = "\(parsed)"
        print("re-apply under load (\(kind.rawValue)): \(applies) applies; of \(parsed.values.reduce(0, +)) connections, \(parsed["proxy-outbound"] ?? 0) reached the proxy, \(parsed["peer"] ?? 0) the destination directly, \(parsed["failed"] ?? 0) failed")
        #expect((parsed["proxy-outbound"] ?? 0) >= 5000, "\(counts)")
        #expect(parsed["peer"] == nil, "connections escaped the proxy: \(counts)")
        #expect(parsed["failed"] == nil, "connections failed: \(counts)")
    }
}

/// Results written from concurrent threads, one slot each.
final class UnsafeResults: @unchecked Sendable {
    private(set) var values: [ProcessResult?]
    private let lock = NSLock()

    init(count: Int) { values = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: ProcessResult?) {
        lock.lock()
        values[index] = value
        lock.unlock()
    }
}

/// The xtables lock another iptables user holds: apply waits --wait seconds, then stops with
/// exit 3 and nothing changed. (XTABLES_LOCKFILE points this test's iptables at a lock of its
/// own, so the rest of the suite is not held up.)
@Suite struct XtablesLockTests {
    @Test(.needsRoot)
    func aLockHeldPastTheWaitIsAHostErrorAndChangesNothing() throws {
        let ns = try Namespace("xlock")
        let work = try temporaryDirectory("xlock")
        defer { try? FileManager.default.removeItem(at: work) }
        let lockfile = work.appendingPathComponent("xtables.lock").path
        var environment = ProcessInfo.processInfo.environment
        environment["XTABLES_LOCKFILE"] = lockfile
        let config = ["-i", "10.96.0.0/12"] + HostKind.iptablesLegacy.arguments
        #expect(try meshcapIn(ns, ["apply"] + config, environment: environment).status == 0)
        let before = try HostState(ns)

        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = ["--no-fork", lockfile, "sleep", "15"]
        try holder.run()
        defer {
            // SIGKILL: the test runner may have handed a mask that blocks SIGTERM.
            kill(holder.processIdentifier, SIGKILL)
            holder.waitUntilExit()
        }
        usleep(300_000)
        let started = Date()
        let result = try meshcapIn(ns, ["apply", "-b", "8080", "--wait", "1"] + config, environment: environment)
        #expect(result.status == 3)
        #expect(result.stderr.contains("xtables lock"), "\(result.stderr)")
        #expect(result.stderr.contains("nothing was changed"), "\(result.stderr)")
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(try HostState(ns) == before)
    }
}
