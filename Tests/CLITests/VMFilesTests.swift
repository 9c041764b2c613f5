import Foundation
import Testing
import TestSupport

/// The files `istioctl x workload entry configure` writes, compiled as they are, in the order
/// Istio's start script sources them (sidecar.env, then cluster.env), for a VM whose package made
/// `istio-proxy` UID 998 and whose resolver is in resolv.conf (Rules/vm-host).
@Suite struct VMFilesTests {
    static let vm = Prerequisites.corpus.appendingPathComponent("vm")
    static let host = packageRoot.appendingPathComponent("Rules/vm-host")

    func compile(_ cluster: String, _ extra: [String] = []) throws -> ProcessResult {
        try run(meshcap, ["compile", "--config", Self.vm.appendingPathComponent("sidecar.env").path,
                          "--config", Self.vm.appendingPathComponent(cluster).path,
                          "--passwd-file", Self.host.appendingPathComponent("passwd").path,
                          "--group-file", Self.host.appendingPathComponent("group").path,
                          "--resolv-conf", Self.host.appendingPathComponent("resolv.conf").path] + extra)
    }

    @Test(.needsCorpus, arguments: ["cluster-ipv4.env", "cluster-ipv6.env", "cluster-no-proxy-metadata.env"])
    func istioctlsFilesCompileUnchanged(_ cluster: String) throws {
        let result = try compile(cluster)
        #expect(result.status == 0, "\(result.stderr)")
        let path = Self.vm.appendingPathComponent(cluster).path, host = Self.host.path
        // The proxy-metadata keys of this mesh are unknown, said once each; the run goes on.
        let unknown = cluster == "cluster-no-proxy-metadata.env" ? [] : [
            "meshcap: warning: \(path):4: unknown key CLUSTER_MESH_CONFIG_VALUE; it shapes no rule (`meshcap keys` lists the keys)",
            "meshcap: warning: \(path):18: unknown key PROXY_CONFIG_ANNOT_VALUE; it shapes no rule (`meshcap keys` lists the keys)",
        ]
        // An IPv6 VM (istioctl wrote its address) gets IPv6 capture, as Istio's host check gives it.
        let ipv6 = cluster == "cluster-ipv6.env" ? "ENABLE_INBOUND_IPV6=true (ISTIO_SVC_IP fd00:10:96::1 is IPv6, \(path):16); " : ""
        #expect(result.stderr.split(separator: "\n").map(String.init) == unknown + [
            "meshcap: filled in: PROXY_UID=998, PROXY_GID=998 (user istio-proxy in \(host)/passwd); \(ipv6)DNS_SERVERS_V4=10.0.0.2, DNS_SERVERS_V6=fd00:ec2::253 (nameservers in \(host)/resolv.conf)",
        ])
        // Envoy's own traffic (UID 998) is let through, and no rule names the 1337 it is not.
        #expect(result.stdout.contains("-A ISTIO_OUTPUT -m owner --uid-owner 998 -j RETURN"))
        #expect(!result.stdout.contains("1337"))
        // ISTIO_META_DNS_CAPTURE='true' with the VM's resolver, SSH and Envoy's ports excluded, all
        // inbound and all outbound captured.
        #expect(result.stdout.contains("-A ISTIO_OUTPUT_DNS -d 10.0.0.2/32 -p udp -m udp --dport 53 -j REDIRECT --to-ports 15053"))
        #expect(result.stdout.contains("-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN"))
        #expect(result.stdout.contains("-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT"))
        #expect(result.stdout.contains("-A ISTIO_OUTPUT -j ISTIO_REDIRECT"))
    }

    @Test(.needsCorpus) func strictRefusesTheUnknownKeysItWarnedAbout() throws {
        let result = try compile("cluster-ipv4.env", ["--strict"])
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("unknown key CLUSTER_MESH_CONFIG_VALUE"))
    }

    /// Windows line ends and a byte-order mark (an editor on a laptop) change nothing.
    @Test(.needsCorpus) func aCRLFCopyWithABOMCompilesToTheSameBytes() throws {
        let work = try temporaryDirectory("crlf")
        defer { try? FileManager.default.removeItem(at: work) }
        let original = try Data(contentsOf: Self.vm.appendingPathComponent("cluster-ipv4.env"))
        let windows = Data([0xef, 0xbb, 0xbf]) + Data(String(decoding: original, as: UTF8.self).replacingOccurrences(of: "\n", with: "\r\n").utf8)
        try windows.write(to: work.appendingPathComponent("cluster-ipv4.env"))
        let copy = try run(meshcap, ["compile", "--config", work.appendingPathComponent("cluster-ipv4.env").path, "--passwd-file", Self.host.appendingPathComponent("passwd").path,
                                     "--resolv-conf", Self.host.appendingPathComponent("resolv.conf").path, "--verbose"])
        let reference = try run(meshcap, ["compile", "--config", Self.vm.appendingPathComponent("cluster-ipv4.env").path, "--passwd-file", Self.host.appendingPathComponent("passwd").path,
                                          "--resolv-conf", Self.host.appendingPathComponent("resolv.conf").path])
        #expect(copy.status == 0)
        #expect(copy.stdout == reference.stdout)
        #expect(copy.stderr.contains("CRLF line ends read as line ends"))
        #expect(copy.stderr.contains("the byte-order mark at its start was skipped"))
    }
}
