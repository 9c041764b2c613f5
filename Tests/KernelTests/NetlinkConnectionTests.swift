import Foundation
import Testing
import TestSupport

/// A run of meshcap asks the kernel over one netlink socket per protocol, and reads the list of
/// every chain once per ruleset generation (`NetlinkConnection`): counted with strace, meshcap's
/// own process only (iptables' loaders open their own).
@Suite(.serialized) struct NetlinkConnectionTests {
    /// (netlink sockets opened, whole-ruleset chain dumps) by meshcap's own process.
    static func traced(_ ns: Namespace, _ arguments: [String]) throws -> (sockets: Int, chainDumps: Int) {
        let trace = try temporaryDirectory("netlink-trace").appendingPathComponent("calls")
        defer { try? FileManager.default.removeItem(at: trace.deletingLastPathComponent()) }
        // -f for the loaders, whose lines carry their own pid: meshcap's is the first line's.
        // strace runs in the namespace too: it names netlink messages by the socket's protocol,
        // which it looks up in its own namespace.
        let result = try run("ip", ["netns", "exec", ns.name, "strace", "-f", "-o", trace.path, "-e", "trace=socket,sendto,sendmsg", meshcap] + arguments)
        #expect(result.status <= 1, "\(result.stderr)")
        let lines = try String(contentsOf: trace, encoding: .utf8).split(separator: "\n")
        let own = lines.first.map { String($0.prefix { $0 != " " }) } ?? ""
        let mine = lines.filter { $0.hasPrefix(own + " ") }
        // A whole-ruleset chain dump: NFT_MSG_GETCHAIN for every family (meshcap's own table
        // dump asks for inet only).
        return (mine.count { $0.contains("socket(AF_NETLINK") },
                mine.count { $0.contains("NFT_MSG_GETCHAIN") && $0.contains("nfgen_family=AF_UNSPEC") })
    }

    @Test(.needsRoot) func aRunOpensOneSocketPerProtocolAndReadsTheChainsOnce() throws {
        let ns = try Namespace("nlconn")
        let config = ["-i", "10.96.0.0/12", "-b", "8080", "--passwd-file", "/dev/null"]
        let apply = try Self.traced(ns, ["apply"] + config)
        // nf_tables and rtnetlink (the policy routing is read).
        #expect(apply.sockets == 2, "apply opened \(apply.sockets) netlink sockets")
        let verify = try Self.traced(ns, ["verify"] + config)
        #expect(verify.sockets == 1, "verify opened \(verify.sockets) netlink sockets")
        // The residue and the chains that may run ahead ask for the same list: one dump.
        #expect(verify.chainDumps == 1, "verify read every chain \(verify.chainDumps) times")
        let iptables = try Self.traced(ns, ["verify", "--backend", "iptables"] + config)
        #expect(iptables.sockets == 1 && iptables.chainDumps == 1, "\(iptables)")
        print("netlink per run: apply \(apply.sockets) sockets, verify \(verify.sockets) socket and \(verify.chainDumps) chain dump, verify --backend iptables \(iptables.sockets) and \(iptables.chainDumps)")
    }
}
