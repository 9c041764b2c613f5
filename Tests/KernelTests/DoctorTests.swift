import Foundation
import Testing
import MeshCapture
import TestSupport

/// `meshcap doctor` on a namespace playing the VM: istioctl's files, the VM's passwd, a resolver
/// of our own in the peer namespace (answering `istiod.istio-system.svc.cluster.local` only with
/// the search domain, `direct.mesh.test` as written), and the rules, listeners and connections
/// of each stage of joining the mesh.
@Suite(.serialized) struct DoctorTests {
    static let vm = Prerequisites.corpus.appendingPathComponent("vm")
    static let passwd = packageRoot.appendingPathComponent("Rules/vm-host/passwd").path

    struct VM {
        let network: TestNetwork
        let files: URL
        var dns: Process?

        init() throws {
            network = try TestNetwork()
            files = try temporaryDirectory("doctor")
            try "nameserver \(TestNetwork.peerAddress)\nsearch cluster.local\n".write(to: files.appendingPathComponent("resolv.conf"), atomically: true, encoding: .utf8)
            try "".write(to: files.appendingPathComponent("hosts"), atomically: true, encoding: .utf8)
            // Port 2222 in a drop-in, as Debian and Ubuntu keep them: found through Include.
            try "Port 22\nInclude sshd_config.d/*.conf\n".write(to: files.appendingPathComponent("sshd_config"), atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(at: files.appendingPathComponent("sshd_config.d"), withIntermediateDirectories: true)
            try "Port 2222\n".write(to: files.appendingPathComponent("sshd_config.d/10-port.conf"), atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["ip", "netns", "exec", network.peer.name, "python3", TestNetwork.probe, "serve-dns",
                                 "istiod.istio-system.svc.cluster.local=\(TestNetwork.peerAddress)", "direct.mesh.test=\(TestNetwork.peerAddress)"]
            try process.run()
            dns = process
            for _ in 0..<100 where !(try network.peer.exec("ss", "-Hlun", "sport = :53")).contains(":53") { usleep(20_000) }
        }

        func stop() {
            if let dns {
                kill(dns.processIdentifier, SIGKILL)
                dns.waitUntilExit()
            }
            try? FileManager.default.removeItem(at: files)
        }

        func path(_ name: String) -> String { files.appendingPathComponent(name).path }

        /// istioctl's sidecar.env and cluster.env (ISTIO_INBOUND_PORTS='*', SSH excluded, DNS
        /// capture on), the VM's passwd, and `extra` files after them.
        func configArguments(_ extra: [String] = []) -> [String] {
            ["--config", DoctorTests.vm.appendingPathComponent("sidecar.env").path,
             "--config", DoctorTests.vm.appendingPathComponent("cluster-ipv4.env").path]
                + extra.flatMap { ["--config", $0] }
                + ["--passwd-file", DoctorTests.passwd, "--resolv-conf", path("resolv.conf")]
        }

        func doctor(_ arguments: [String]) throws -> ProcessResult {
            try meshcapIn(network.workload, ["doctor", "--hosts", path("hosts"), "--sshd-config", path("sshd_config")] + arguments)
        }

        func write(_ name: String, _ text: String) throws -> String {
            try text.write(to: files.appendingPathComponent(name), atomically: true, encoding: .utf8)
            return path(name)
        }
    }

    /// The report's lines that start with `prefix` (status and area), the fix lines dropped.
    static func lines(_ output: String, _ prefix: String) -> [String] {
        output.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
    }

    /// Before anything is applied: the files are right but for one name, SSH on 2222 would be
    /// captured, nothing is listening and there are no rules yet.
    @Test(.needsRoot, .needsCorpus) func beforeApplyEachCheckSaysWhatIsMissing() throws {
        let vm = try VM()
        defer { vm.stop() }
        let names = ["--control-plane", "istiod.istio-system.svc", "--control-plane", "direct.mesh.test", "--control-plane", "missing.mesh.test"]
        let result = try vm.doctor(vm.configArguments() + names)
        #expect(result.status == 1, "\(result.stdout)\n\(result.stderr)")
        let out = result.stdout
        #expect(Self.lines(out, "PASS  kernel").count == 3, "\(out)")
        #expect(Self.lines(out, "PASS  proxy user") == ["PASS  proxy user     istio-proxy is UID 998, which the rules let through"])
        #expect(Self.lines(out, "PASS  ssh") == ["PASS  ssh            port 22 (SSH) is not captured inbound"])
        #expect(Self.lines(out, "WARN  ssh") == ["WARN  ssh            port 2222 (SSH) is captured inbound: SSH then goes through Envoy, and when Envoy is down or refuses it you are locked out"])
        #expect(out.contains("fix: add 2222 to ISTIO_LOCAL_EXCLUDE_PORTS (INBOUND_PORTS_EXCLUDE, -d 2222)"))
        let peer = TestNetwork.peerAddress
        #expect(Self.lines(out, "WARN  control plane") == ["WARN  control plane  istiod.istio-system.svc resolves only as istiod.istio-system.svc.cluster.local (search domain cluster.local in \(vm.path("resolv.conf"))), to \(peer) from \(peer): a resolver that does not search, or a DHCP lease that rewrites resolv.conf (AWS does), loses it"])
        #expect(Self.lines(out, "PASS  control plane") == ["PASS  control plane  direct.mesh.test: \(peer) from nameserver \(peer)"])
        #expect(Self.lines(out, "FAIL  control plane") == ["FAIL  control plane  missing.mesh.test does not resolve: \(peer): no address for missing.mesh.test, missing.mesh.test.cluster.local"])
        #expect(Self.lines(out, "WARN  rules") == ["WARN  rules          no capture rules on this host yet"])
        #expect(Self.lines(out, "WARN  capture port").count == 3, "\(out)")
        #expect(!out.contains("counters"))
        // istioctl's cluster.env does not set ISTIO_CUSTOM_IP_TABLES: Istio's start script would
        // program its own rules too.
        #expect(Self.lines(out, "WARN  istio start") == ["WARN  istio start    ISTIO_CUSTOM_IP_TABLES is not true: Istio's start script (istio.service) will program its own rules as well, and connections are captured twice"])
        #expect(out.hasSuffix("doctor: 8 passed, 7 warnings, 1 failed\n"), "\(out)")
        // Each fix reads the files doctor read, in the namespace doctor looked at (run as written
        // without it, a fix would change the caller's namespace).
        #expect(out.contains("fix: meshcap apply --netns \(vm.network.workload.name) \(vm.configArguments().joined(separator: " "))\n"), "\(out)")

        // The fix doctor gives, done: the hosts file names istiod, and it passes from there.
        _ = try vm.write("hosts", "127.0.0.1 localhost\n\(peer) istiod.istio-system.svc\n")
        let fixed = try vm.doctor(vm.configArguments() + ["--control-plane", "istiod.istio-system.svc"])
        #expect(Self.lines(fixed.stdout, "PASS  control plane") == ["PASS  control plane  istiod.istio-system.svc: \(peer) from \(vm.path("hosts"))"])
    }

    /// Applied, then the proxy's ports held, then a connection captured: the capture-port checks
    /// go from FAIL to PASS and the counters from WARN to PASS; JSON says the same.
    @Test(.needsRoot, .needsCorpus) func afterApplyListenersAndCountersDecide() throws {
        let vm = try VM()
        defer { vm.stop() }
        // DNS capture on (istioctl's files turn it on): doctor asks as the proxy's user, whose DNS
        // the rules let through to the resolver; anyone else's would go to the agent's port,
        // where only a TCP listener is below (so a captured question would fail).
        let config = vm.configArguments()
        let applied = try meshcapIn(vm.network.workload, ["apply"] + config)
        #expect(applied.status == 0, "\(applied.stderr)")
        let names = ["--control-plane", "direct.mesh.test"]

        let unserved = try vm.doctor(config + names)
        #expect(unserved.status == 1)
        #expect(Self.lines(unserved.stdout, "FAIL  capture port") == [
            "FAIL  capture port   nothing listens on 15001 (outbound), and the rules send connections there: they are refused",
            "FAIL  capture port   nothing listens on 15006 (inbound), and the rules send connections there: they are refused",
            "FAIL  capture port   nothing listens on 15053 (DNS), and the rules send connections there: they are refused",
        ])
        #expect(Self.lines(unserved.stdout, "PASS  control plane") == ["PASS  control plane  direct.mesh.test: \(TestNetwork.peerAddress) from nameserver \(TestNetwork.peerAddress)"])
        #expect(Self.lines(unserved.stdout, "PASS  rules") == ["PASS  rules          capture rules in nft (istio-proxy-nat, istio-proxy-raw) only"])
        #expect(Self.lines(unserved.stdout, "WARN  counters") == ["WARN  counters       the rules (nft) are the config's, but no connection has been sent to the proxy yet"])

        try vm.network.serve(in: vm.network.workload, port: 15001, name: "proxy-outbound")
        try vm.network.serve(in: vm.network.workload, port: 15006, name: "proxy-inbound")
        try vm.network.serve(in: vm.network.workload, port: 15053, name: "agent-dns")
        #expect(try vm.network.connect(from: vm.network.workload, to: TestNetwork.peerAddress, port: 8080).hasPrefix("proxy-outbound"))
        let served = try vm.doctor(config + names + ["--json"])
        #expect(served.status == 0, "\(served.stdout)")
        let json = try JSONSerialization.jsonObject(with: Data(served.stdout.utf8)) as? [String: Any]
        #expect(json?["schema"] as? String == "meshcap.doctor/v1")
        #expect(json?["ok"] as? Bool == true)
        let checks = json?["checks"] as? [[String: Any]] ?? []
        let counters = checks.first { $0["area"] as? String == "counters" }
        #expect(counters?["status"] as? String == "pass")
        #expect(counters?["detail"] as? String == "the rules (nft) are the config's; sent to the proxy: 0 inbound and 1 outbound")
        #expect(checks.filter { $0["area"] as? String == "capture port" }.map { $0["status"] as? String } == ["pass", "pass", "pass"])
        #expect(checks.filter { $0["area"] as? String == "control plane" }.map { $0["status"] as? String } == ["pass"])
        #expect(checks.allSatisfy { ($0["status"] as? String == "pass") == ($0["fix"] is NSNull) })
    }

    /// istioctl's files for a revision: CA_ADDR names istiod-rev-1, and the hosts file istioctl
    /// writes maps only that name. The control plane passes from the hosts file, and Istio's
    /// default name, which nothing on this VM uses, is not looked up (on c9f1a39 it FAILed, exit 1).
    @Test(.needsRoot, .needsCorpus) func aRevisionsControlPlaneNamesComeFromTheFiles() throws {
        let vm = try VM()
        defer { vm.stop() }
        let peer = TestNetwork.peerAddress
        _ = try vm.write("hosts", "127.0.0.1 localhost\n\(peer) istiod-rev-1.istio-system.svc\n")
        let result = try vm.doctor(vm.configArguments())
        let out = result.stdout
        #expect(Self.lines(out, "PASS  control plane") == ["PASS  control plane  istiod-rev-1.istio-system.svc: \(peer) from \(vm.path("hosts"))"], "\(out)")
        #expect(Self.lines(out, "FAIL  control plane").isEmpty && Self.lines(out, "WARN  control plane").isEmpty, "\(out)")
    }

    /// A hosts file or sshd config doctor cannot read (a FIFO, a directory, a device, a file past
    /// InputFile's 16 MiB) is said, with why, as a check of its own, and nothing is concluded from
    /// it: no name passes or fails as if the hosts file said nothing, and the SSH ports its
    /// drop-in sets (2222, captured) are not taken as absent.
    @Test(.needsRoot, .needsCorpus) func filesItCannotReadAreSaidAndNotConcludedFrom() throws {
        let vm = try VM()
        defer { vm.stop() }
        let fifo = vm.path("fifo"), large = vm.path("large")
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(FileManager.default.createFile(atPath: large, contents: nil))
        #expect(truncate(large, off_t(InputFile.sizeLimit + 1)) == 0)
        let reasons = [
            (fifo, "is a FIFO, not a regular file"),
            (vm.files.path, "is a directory, not a regular file"),
            ("/dev/zero", "is a character device, not a regular file"),
            (large, "is \(InputFile.sizeLimit + 1) bytes; meshcap reads at most 16 MiB"),
        ]
        for (path, reason) in reasons {
            let result = try meshcapIn(vm.network.workload, ["doctor", "--hosts", path, "--sshd-config", path]
                                        + vm.configArguments() + ["--control-plane", "direct.mesh.test"])
            let out = result.stdout
            #expect(result.status == 1, "\(out)\n\(result.stderr)")
            #expect(Self.lines(out, "WARN  ssh").contains("WARN  ssh            the sshd config \(path) \(reason): the SSH ports it sets are not checked"), "\(out)")
            #expect(Self.lines(out, "PASS  ssh") == ["PASS  ssh            port 22 (SSH) is not captured inbound"])
            #expect(Self.lines(out, "FAIL  control plane") == ["FAIL  control plane  the hosts file \(path) \(reason): the names are not checked"], "\(out)")
            #expect(!out.contains("PASS  control plane") && !out.contains("does not resolve") && !out.contains("append the hosts file"), "\(out)")
        }
    }

    /// The mistakes that break a VM quietly: rules in two places, and a PROXY_UID that is not
    /// Envoy's (its own connections would loop).
    @Test(.needsRoot, .needsCorpus) func twoBackendsAndAWrongProxyUIDFail() throws {
        let vm = try VM()
        defer { vm.stop() }
        let wrongUID = try vm.write("uid.env", "PROXY_UID=1337\nISTIO_META_DNS_CAPTURE=false\n")
        let config = vm.configArguments([wrongUID])
        // meshcap's apply moves a capture rather than adding a second: the nft one is loaded by
        // hand, as Istio's own start script would.
        let applied = try meshcapIn(vm.network.workload, ["apply"] + config + ["--backend", "iptables", "--iptables-variant", "legacy"])
        #expect(applied.status == 0, "\(applied.stderr)")
        try HostLifecycleTests.loadByHand(vm.network.workload, config)
        let result = try vm.doctor(config + ["--control-plane", "direct.mesh.test"])
        #expect(result.status == 1)
        #expect(Self.lines(result.stdout, "FAIL  rules") == ["FAIL  rules          capture rules in nft (istio-proxy-nat) and iptables-legacy (ipv4): packets are captured by whichever hook runs first, and counted apart"])
        #expect(Self.lines(result.stdout, "FAIL  proxy user") == ["FAIL  proxy user     istio-proxy is UID 998, but the rules let UID 1337 through: Envoy's own connections would be captured again (a loop)"])
        #expect(result.stdout.contains("fix: set PROXY_UID=998, or leave PROXY_UID unset so meshcap takes istio-proxy's UID"))
    }

    /// Where verify reads iptables' rules from: the kernel, or, after a rule the decoder does not
    /// print exactly (kube-proxy's statistic match), the save tool, naming that rule.
    @Test(.needsRoot, .needsCorpus, arguments: ["nft", "legacy"])
    func theReaderLineSaysWhereIptablesRulesAreReadFrom(variant: String) throws {
        let vm = try VM()
        defer { vm.stop() }
        let config = vm.configArguments() + ["--backend", "iptables", "--iptables-variant", variant]
        let applied = try meshcapIn(vm.network.workload, ["apply"] + config)
        #expect(applied.status == 0, "\(applied.stderr)")
        let before = try vm.doctor(config + ["--control-plane", "direct.mesh.test"])
        #expect(Self.lines(before.stdout, "PASS  reader") == ["PASS  reader         iptables-\(variant)'s rules are read from the kernel, as iptables-\(variant)-save -c would print them"], "\(before.stdout)")
        try vm.network.workload.exec("iptables-\(variant)", "-t", "nat", "-I", "OUTPUT", "-p", "udp", "-m", "statistic", "--mode", "nth", "--every", "2", "--packet", "0", "-j", "RETURN")
        let after = try vm.doctor(config + ["--control-plane", "direct.mesh.test"])
        let line = Self.lines(after.stdout, "PASS  reader")
        #expect(line.count == 1 && line[0].contains("read with iptables-\(variant)-save -c, slower: IPv4 nat OUTPUT") && line[0].contains("statistic"), "\(after.stdout)")
    }
}
