import Testing
import MeshCapture
@testable import HostOps

/// `LegacyTables` reads chain names out of the kernel's legacy x_tables entries by byte offset:
/// it must name exactly the chains iptables-legacy-save declares, in both families, among many
/// rules of several sizes (matches and targets of different lengths move every offset), and each
/// family its own (a chain only one family has).
@Suite struct LegacyTablesTests {
    @Test(.needsRoot)
    func namesTheChainsIptablesLegacySaveDeclares() throws {
        let ns = try Namespace("legacy-chains")
        for (family, tool) in [(Family.ipv4, "iptables-legacy"), (.ipv6, "ip6tables-legacy")] {
            let address = family == .ipv4 ? "10.1.0.0/16" : "2001:db8::/32"
            var script = "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:ISTIO_INBOUND - [0:0]\n:ISTIO_OUTPUT - [0:0]\n:ISTIO_REDIRECT - [0:0]\n:SOMEONE-ELSES - [0:0]\n:ONLY-\(family) - [0:0]\n"
            script += "-A OUTPUT -p tcp -j ISTIO_OUTPUT\n-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
            for index in 0..<300 {
                script += index % 3 == 0 ? "-A ISTIO_OUTPUT -d \(address) -j RETURN\n"
                    : index % 3 == 1 ? "-A SOMEONE-ELSES -m owner --uid-owner \(index) -m comment --comment \"rule \(index)\" -j RETURN\n"
                    : "-A ISTIO_INBOUND -p tcp -m multiport --dports 80,443,\(1000 + index) -j ISTIO_REDIRECT\n"
            }
            script += "COMMIT\n*mangle\n:PREROUTING ACCEPT [0:0]\n:ISTIO_DIVERT - [0:0]\n-A ISTIO_DIVERT -j MARK --set-xmark 0x539/0xffffffff\nCOMMIT\n"
            _ = try ns.exec(["\(tool)-restore"], input: script)
            let saved = try ns.exec("\(tool)-save").split(separator: "\n").filter { $0.hasPrefix(":") }.map { String($0.dropFirst().prefix { $0 != " " }) }
            let builtIn: Set = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]
            let read = try ns.inside { try ["nat", "mangle"].flatMap { try LegacyTables.names($0, family: family) } }
            // Sorted lists, not sets: a chain named twice must fail too.
            #expect(read.sorted() == saved.filter { !builtIn.contains($0) }.sorted(), "\(family)")
            #expect(read.sorted() == ["ISTIO_INBOUND", "ISTIO_OUTPUT", "ISTIO_REDIRECT", "SOMEONE-ELSES", "ONLY-\(family)", "ISTIO_DIVERT"].sorted(), "\(family)")
        }
        // A table no kernel module provides is an error, not an empty list. (A real table the
        // kernel does not hold yet would be created by asking: callers ask only about the ones
        // /proc/net/ip*_tables_names lists.)
        #expect(throws: HostError.self) { try ns.inside { try LegacyTables.names("no-such-table", family: .ipv4) } }
    }
}
