import Foundation
import Testing
import TestSupport

/// Health means capture. The Istio package ships sidecar.env with every line commented out; a
/// VM whose cluster.env is missing has only that: a config that sends nothing to the proxy.
/// apply refuses it (exit 2, nothing changed) unless told `--allow-no-capture`, and then
/// verify, its Prometheus sample and doctor all say nothing is captured. On c9f1a39 apply wrote
/// the bypass chains, exit 0, and verify said "capture looks right".
@Suite struct NoCaptureTests {
    static let sidecar = Prerequisites.corpus.appendingPathComponent("vm/sidecar.env").path

    @Test(.needsRoot, .needsCorpus)
    func aConfigThatCapturesNothingIsRefusedOrReported() throws {
        let ns = try Namespace("nocap")
        let before = try HostState(ns)
        let refused = try meshcapIn(ns, ["apply", "--config", Self.sidecar])
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("the config sends nothing to the proxy: OUTBOUND_IPRANGES_INCLUDE (ISTIO_SERVICE_CIDR), INBOUND_PORTS_INCLUDE (ISTIO_INBOUND_PORTS)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("(read: \(Self.sidecar)); nothing was changed; allowed: a service CIDR or inbound ports"), "\(refused.stderr)")
        // Nothing given and nothing recorded: Istio's defaults capture nothing either, said as such.
        let plain = try meshcapIn(ns, ["apply"])
        #expect(plain.status == 2 && plain.stderr.contains("no config given, and none recorded in this network namespace"), "\(plain.stderr)")
        #expect(try HostState(ns) == before, "a refused apply changed the namespace")

        let allowed = try meshcapIn(ns, ["apply", "--config", Self.sidecar, "--allow-no-capture"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        // With the config, and with none (the recorded one).
        for arguments in [["--config", Self.sidecar], []] {
            let verify = try meshcapIn(ns, ["verify"] + arguments)
            #expect(verify.status == 1 && verify.stdout.contains("PROBLEM (nothing-captured): the config sends nothing to the proxy"),
                    "verify \(arguments): \(verify.stdout)\(verify.stderr)")
            #expect(!verify.stdout.contains("capture looks right"))
        }
        let prometheus = try meshcapIn(ns, ["verify", "--prometheus", "-"])
        #expect(prometheus.stdout.contains(#"meshcap_problems{kind="nothing-captured"} 1"#) && prometheus.stdout.contains("meshcap_capture_healthy 0"),
                "\(prometheus.stdout)")
        let doctor = try meshcapIn(ns, ["doctor", "--config", Self.sidecar])
        #expect(doctor.status == 1 && doctor.stdout.contains("FAIL") && doctor.stdout.contains("sends nothing to the proxy"), "\(doctor.stdout)")
    }
}
