import Glibc
import MeshCapture

/// The other end of inbound probes: a network namespace joined to this one by a veth pair,
/// addressed from the documentation ranges (192.0.2.0/30, 2001:db8:6d63::/126). Connections
/// from there arrive here through PREROUTING, as a client's would. Made with `ip`, removed when
/// the probe ends; one a killed run left behind is removed by the next.
public final class ProbePeer {
    static let prefix = "meshcap-probe-"
    let namespace: String
    let link: String

    public static func gateway(_ family: Family) -> IPAddress { family == .ipv4 ? .v4(0xC000_0201) : .v6(UInt128(0x2001_0db8_6d63) << 80 | 1) }
    static func address(_ family: Family) -> IPAddress { family == .ipv4 ? .v4(0xC000_0202) : .v6(UInt128(0x2001_0db8_6d63) << 80 | 2) }

    init(families: Set<Family>) throws {
        Self.removeAbandoned()
        let pid = getpid()
        namespace = "\(Self.prefix)\(pid)"
        link = "mcprobe\(pid % 100_000)"
        // From here on a failure runs deinit, which removes what was made.
        try Self.ip(["netns", "add", namespace])
        try Self.ip(["link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", namespace])
        for family in families.sorted() {
            let (length, extra) = family == .ipv4 ? ("30", []) : ("126", ["nodad"])
            try Self.ip(["addr", "add", "\(Self.gateway(family))/\(length)", "dev", link] + extra)
            try Self.ip(["-n", namespace, "addr", "add", "\(Self.address(family))/\(length)", "dev", "eth0"] + extra)
        }
        for arguments in [["link", "set", link, "up"], ["-n", namespace, "link", "set", "eth0", "up"], ["-n", namespace, "link", "set", "lo", "up"]] {
            try Self.ip(arguments)
        }
    }

    /// Deleting the namespace deletes both ends of the veth.
    deinit { _ = try? Command.run("ip", ["netns", "del", namespace]) }

    static func ip(_ arguments: [String]) throws(HostError) {
        let result = try Command.run("ip", arguments)
        guard result.status == 0 else { throw HostError("ip \(arguments.joined(separator: " ")) failed: \(result.stderr.trimmed)") }
    }

    /// Probe namespaces whose meshcap is gone.
    static func removeAbandoned() {
        for bytes in TextFile.entries(of: "/run/netns") {
            let name = String(decoding: bytes, as: UTF8.self)
            guard name.hasPrefix(prefix), let pid = Int32(name.dropFirst(prefix.count)), kill(pid, 0) != 0, errno == ESRCH else { continue }
            _ = try? Command.run("ip", ["netns", "del", name])
        }
    }
}
