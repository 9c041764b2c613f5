import Foundation
import Testing
import TestSupport

/// meshcap.service as installed, its ExecStart and ExecStop lines run as systemd runs them, in
/// a test namespace, with a client opening connections to a captured destination all along. A
/// restart (systemd's job of type "restart", which `systemctl list-jobs` shows while ExecStop
/// runs; a stand-in systemctl says so here, as this machine has no systemd running) re-applies in
/// place: no connection escapes the proxy and the counters go on. A stop on purpose removes the
/// capture. On c9f1a39 ExecStop was `meshcap clean`: every restart reset the counters and left
/// a moment without capture.
@Suite(.serialized) struct UnitRestartTests {
    @Test(.needsRoot)
    func aRestartKeepsCaptureAndCountersAStopRemovesIt() throws {
        let work = try temporaryDirectory("unit")
        defer { try? FileManager.default.removeItem(at: work) }
        let destdir = work.appendingPathComponent("root")
        let install = try InstallScript.run(into: destdir)
        try #require(install.status == 0, "\(install.stderr)")
        let unit = try String(contentsOf: destdir.appendingPathComponent("usr/local/lib/systemd/system/meshcap.service"), encoding: .utf8)
        func line(_ key: String) throws -> [String] {
            let found = try #require(unit.split(separator: "\n").first { $0.hasPrefix(key + "=") }, "no \(key) in the unit")
            // The installed paths, inside DESTDIR; %n is the unit's name.
            return found.dropFirst(key.count + 1).split(separator: " ").map {
                $0 == "%n" ? "meshcap.service" : $0.hasPrefix("/usr/local/") ? destdir.path + $0 : String($0)
            }
        }
        let (start, stop) = (try line("ExecStart"), try line("ExecStop"))
        // The helpers run /usr/local/bin/meshcap; here DESTDIR's.
        for helper in ["meshcap-with-config", "meshcap-unit-stop"] {
            let path = destdir.appendingPathComponent("usr/local/lib/meshcap/\(helper)")
            try String(contentsOf: path, encoding: .utf8).replacingOccurrences(of: "/usr/local/bin/meshcap", with: destdir.path + "/usr/local/bin/meshcap")
                .write(to: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path.path)
        }
        let cluster = work.appendingPathComponent("cluster.env")
        try "ISTIO_SERVICE_CIDR='\(TestNetwork.peerAddress)/32'\nISTIO_INBOUND_PORTS='8080'\n".write(to: cluster, atomically: true, encoding: .utf8)
        // A systemctl that lists the job systemd would be running: a restart, or none (a stop).
        let bin = work.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let job = work.appendingPathComponent("job")
        try "#!/bin/sh\n[ \"$1\" = list-jobs ] && cat \(job.path)\nexit 0\n".write(to: bin.appendingPathComponent("systemctl"), atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin.appendingPathComponent("systemctl").path)
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = bin.path + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        environment["ISTIO_SIDECAR_CONFIG"] = "/nonexistent/sidecar.env"
        environment["ISTIO_CLUSTER_CONFIG"] = cluster.path
        environment["MESHCAP_CONFIG_DIR"] = work.appendingPathComponent("etc").path

        let network = try TestNetwork()
        try network.serve(in: network.workload, port: 15001, name: "proxy-outbound")
        try network.serve(in: network.peer, port: 8080, name: "peer")
        func systemd(_ command: [String]) throws -> ProcessResult {
            try run("ip", ["netns", "exec", network.workload.name] + command, environment: environment)
        }
        func captured() throws -> Int {
            let verify = try systemd([meshcap, "verify", "--json"])
            let json = try JSONSerialization.jsonObject(with: Data(verify.stdout.utf8)) as? [String: Any]
            let rows = json?["rows"] as? [[String: Any]] ?? []
            return rows.first { $0["subject"] as? String == "\(TestNetwork.peerAddress)/32" && $0["action"] as? String == "capture" }?["packets"] as? Int ?? -1
        }
        let started = try systemd(start)
        try #require(started.status == 0, "ExecStart: \(started.stderr)")

        // Five restarts while the client connects.
        try "42 meshcap.service restart running\n".write(to: job, atomically: true, encoding: .utf8)
        let loop = try TestNetwork.ConnectionLoop(from: network.workload, to: TestNetwork.peerAddress, port: 8080, minimum: 1000)
        var counts: [Int] = []
        for _ in 0..<5 {
            usleep(100_000)
            counts.append(try captured())
            let stopped = try systemd(stop)
            #expect(stopped.status == 0 && stopped.stderr.contains("is restarting: the capture stays"), "ExecStop: \(stopped.stderr)")
            let again = try systemd(start)
            #expect(again.status == 0 && again.stderr.contains("no change"), "ExecStart: \(again.stderr)")
        }
        let tally = loop.finish()
        counts.append(try captured())
        print("unit restarted 5 times under traffic: \(tally.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")); captured counter \(counts.map(String.init).joined(separator: " → "))")
        #expect(tally["peer"] == nil && tally["failed"] == nil, "connections escaped the proxy during a restart: \(tally)")
        #expect((tally["proxy-outbound"] ?? 0) >= 1000, "\(tally)")
        #expect(counts.last ?? 0 > 0 && zip(counts, counts.dropFirst()).allSatisfy { $0 <= $1 }, "the counters went back: \(counts)")

        // A stop on purpose: no restart job. The capture goes.
        try "".write(to: job, atomically: true, encoding: .utf8)
        let stopped = try systemd(stop)
        #expect(stopped.status == 0 && stopped.stderr.contains("removed:"), "ExecStop: \(stopped.stderr)")
        #expect(try network.workload.exec("nft", "list", "tables").isEmpty)
        #expect(try network.connect(from: network.workload, to: TestNetwork.peerAddress, port: 8080).hasPrefix("peer"))
    }
}
