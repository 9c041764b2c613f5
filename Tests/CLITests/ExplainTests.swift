import Foundation
import Testing
import TestSupport

/// `meshcap explain` as users call it: the path in each backend's syntax, JSON for scripts, and
/// input it cannot use. (What it says is checked against the kernel in ExplainDifferentialTests.)
@Suite struct ExplainTests {
    static let config = ["-i", "10.96.0.0/12", "-b", "*", "-d", "22", "--passwd-file", "/dev/null"]

    @Test func thePathInNftSyntax() throws {
        let result = try run(meshcap, ["explain"] + Self.config + ["--direction", "outbound", "--dst", "10.96.0.10:80", "--uid", "1000"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == """
            meshcap explain: outbound tcp to 10.96.0.10:80 uid 1000 (nft, from the config)
              istio-proxy-nat output #1: counter jump istio-output
              istio-proxy-nat istio-output #9: ip daddr 10.96.0.0/12 counter jump istio-redirect
              istio-proxy-nat istio-redirect #1: meta l4proto tcp counter redirect to :15001
            outcome: redirected to port 15001 (Envoy's outbound listener)

            """)
    }

    @Test func inboundToAnExcludedPortInIptablesSyntaxAndJSON() throws {
        let result = try run(meshcap, ["explain"] + Self.config + ["--direction", "inbound", "--dst", "192.0.2.1:22", "--src", "192.0.2.9", "--backend", "iptables", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["schema"] as? String == "meshcap.explain/v1")
        #expect((json["outcome"] as? [String: Any])?["verdict"] as? String == "accept")
        #expect((json["outcome"] as? [String: Any])?["port"] == nil)
        let path = json["path"] as? [[String: Any]] ?? []
        #expect(path.map { $0["chain"] as? String } == ["PREROUTING", "ISTIO_INBOUND", "PREROUTING"])
        #expect(path.map { $0["rule"] as? String } == ["-p tcp -j ISTIO_INBOUND", "-p tcp -m tcp --dport 22 -j RETURN", nil])
    }

    /// Two roles on one port (the agent's DNS port used as Envoy's): explained, not a crash; and
    /// an owner the rules test but the connection does not give is named.
    @Test func aSharedPortAndAnUnknownOwner() throws {
        let result = try run(meshcap, ["explain", "-i", "*", "-p", "15053", "--passwd-file", "/dev/null", "--direction", "outbound", "--dst", "10.96.0.10:80"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasSuffix("outcome: redirected to port 15053 (Envoy's outbound listener)\n"), "\(result.stdout)")
        #expect(result.stderr.contains("meshcap: note: the rules tested the output interface (taken as not lo: give --iface lo for this host's own addresses), the socket's group (--gid), the socket's owner (--uid), which this connection leaves open"), "\(result.stderr)")
    }

    @Test func inputItCannotUseIsRefused() throws {
        let cases: [([String], String)] = [
            (["--direction", "outbound", "--dst", "10.96.0.10"], "meshcap: flag --dst: 10.96.0.10 is no destination; allowed: ADDRESS:PORT or [IPV6]:PORT\n"),
            (["--direction", "outbound", "--dst", "fd00::1:80"], "meshcap: flag --dst: fd00::1:80 is no destination; allowed: ADDRESS:PORT or [IPV6]:PORT\n"),
            (["--direction", "outbound", "--dst", "[fd00::1]:80", "--src", "10.0.0.1"], "meshcap: flag --src: 10.0.0.1 is not of the destination's family; allowed: an address of the destination's family\n"),
            (["--direction", "inbound", "--dst", "10.0.0.1:80", "--uid", "5"], "meshcap: flag --uid: an arriving packet has no local owner; allowed: --uid and --gid with --direction outbound\n"),
            (["--direction", "inbound", "--dst", "10.0.0.1:80", "--gid", "5"], "meshcap: flag --gid: an arriving packet has no local owner; allowed: --uid and --gid with --direction outbound\n"),
            (["--direction", "outbound", "--dst", "[::ffff:127.0.0.1]:80"], "meshcap: flag --dst: [::ffff:127.0.0.1]:80 is an IPv4-mapped address, which a socket sends as IPv4; allowed: the IPv4 address itself\n"),
        ]
        for (arguments, message) in cases {
            let result = try run(meshcap, ["explain", "--passwd-file", "/dev/null"] + arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.hasSuffix(message), "\(result.stderr)")
        }
    }

    /// A port, owner or interface the config refuses is refused by explain too, in the config's
    /// words: no walk for a connection no socket can make or a rule cannot name.
    @Test func valuesTheConfigRefusesAreRefusedInItsWords() throws {
        let cases: [(explain: [String], config: [String], problem: String)] = [
            (["--dst", "10.0.0.1:0"], ["-p", "0"], "0 is outside 1–65535"),
            (["--dst", "[fd00::1]:65536"], ["-p", "65536"], "65536 is outside 1–65535"),
            (["--dst", "10.0.0.1:80", "--src", "10.0.0.2:0"], ["-z", "0"], "0 is outside 1–65535"),
            (["--dst", "10.0.0.1:80", "--uid", "4294967295"], ["-u", "4294967295"], "4294967295 is outside 0–4294967294"),
            (["--dst", "10.0.0.1:80", "--gid", "4294967295"], ["-g", "4294967295"], "4294967295 is outside 0–4294967294"),
            (["--dst", "10.0.0.1:80", "--uid", "nobody"], ["-u", "nobody"], #""nobody" is neither a number nor a user in /dev/null"#),
            (["--dst", "10.0.0.1:80", "--iface", "abcdefghijklmnop"], ["-c", "abcdefghijklmnop"], #""abcdefghijklmnop" is 16 bytes; Linux allows 15"#),
            (["--dst", "10.0.0.1:80", "--iface", "eth0/1"], ["-c", "eth0/1"], #""eth0/1" contains '/'"#),
        ]
        for (explain, config, problem) in cases {
            let refused = try run(meshcap, ["compile", "--passwd-file", "/dev/null", "--group-file", "/dev/null"] + config)
            #expect(refused.status == 2 && refused.stderr.contains(": \(problem); allowed: "), "\(config): \(refused.stderr)")
            let result = try run(meshcap, ["explain", "--passwd-file", "/dev/null", "--group-file", "/dev/null", "--direction", "outbound"] + explain)
            #expect(result.status == 2, "\(explain): \(result.stdout)")
            #expect(result.stdout.isEmpty)
            let flag = explain[explain.count - 2], value = explain[explain.count - 1]
            #expect(result.stderr.hasSuffix("meshcap: flag \(flag): \"\(value)\": \(problem); allowed: \(Self.allowed[flag] ?? "")\n"), "\(result.stderr)")
        }
        // What the config takes, explain takes: a user by name, through --passwd-file.
        let passwd = try temporaryDirectory("explain-passwd")
        defer { try? FileManager.default.removeItem(at: passwd) }
        let file = passwd.appendingPathComponent("passwd")
        try "app:x:1000:1000::/home/app:/bin/sh\n".write(to: file, atomically: true, encoding: .utf8)
        let named = try run(meshcap, ["explain", "--passwd-file", file.path, "-i", "10.96.0.0/12", "--direction", "outbound", "--dst", "10.96.0.10:80", "--uid", "app"])
        #expect(named.status == 0, "\(named.stderr)")
        #expect(named.stdout.hasPrefix("meshcap explain: outbound tcp to 10.96.0.10:80 uid 1000 "), "\(named.stdout)")
    }

    static let allowed = [
        "--dst": "ADDRESS:PORT or [IPV6]:PORT, the port 1–65535",
        "--src": "ADDRESS:PORT or [IPV6]:PORT, the port 1–65535",
        "--uid": "a user ID 0–4294967294 or a user name from /dev/null",
        "--gid": "a group ID 0–4294967294 or a group name from /dev/null",
        "--iface": "an interface name of 1–15 letters, digits, '.', '_', '-' or '@'",
    ]
}
