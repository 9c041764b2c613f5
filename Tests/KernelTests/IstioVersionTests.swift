import Foundation
import Testing
import TestSupport

/// Istio's sidecar rules as each version wrote them for its usual config (every inbound port,
/// every destination, the proxy's UID and GID 1337, DNS capture where the version has it, the
/// peer as the DNS server), loaded into a namespace by iptables-restore, real traffic sent, then
/// plain `meshcap verify`: every rule recognised, none left as another's, and the counts on the
/// rows the traffic took. The layouts are written here from what each version's code does
/// (istio-iptables.sh to 1.4, tools/istio-iptables from 1.5; istio-cni runs the same code with
/// its own defaults), as a generator of the few places where versions differ.
@Suite(.serialized) struct IstioVersionTests {
    /// How the proxy's own traffic is let by in nat ISTIO_OUTPUT.
    enum Owners {
        /// One return for its UID and one for its GID; anyone's calls over lo to the pod's own
        /// address go to this chain (1.0–1.2 ISTIO_REDIRECT, 1.3–1.4 ISTIO_IN_REDIRECT).
        case plain(loopback: String)
        /// From 1.5, per UID then GID: its calls over lo to itself inbound, others' over lo
        /// returned, its own returned. From 1.9 the lo rules spare port 53 (not the GID's
        /// redirect, until 1.18), from 1.18 the redirects spare the tunnel port 15008 too.
        case triplets(spare: Spared)
    }

    enum Spared { case nothing, dns, dnsAndTunnel }

    /// Where DNS is captured.
    enum DNS {
        case none
        /// 1.9–1.22: UDP in nat OUTPUT itself (the proxy's queries let by first), TCP in
        /// ISTIO_OUTPUT; conntrack zones in raw's built-in chains, the reply's rule matching
        /// the server as destination before 1.20 and as source from 1.20.
        case natOutput(rawMatch: String)
        /// 1.23–1.24: UDP into ISTIO_OUTPUT too, its DNS rules at the chain's end; raw's zones
        /// in a raw ISTIO_OUTPUT.
        case endOfOutput
        /// 1.25 on: ISTIO_OUTPUT_DNS in nat and raw, raw ISTIO_INBOUND for replies; OUTPUT
        /// sends every protocol to ISTIO_OUTPUT. `anyServer`: istio-cni matches no server.
        case chains(anyServer: Bool)
    }

    struct Version: CustomTestStringConvertible, Sendable {
        let name: String
        var inboundPort = 15006
        var tunnel = true
        var ssh = false
        var excluded: [Int] = [15090, 15021, 15020]
        var passthrough = true
        var owners: Owners = .triplets(spare: .nothing)
        var dns: DNS = .none
        /// istio-cni's own default: the agent's port 15020 left alone outbound, at the top.
        var cniOutboundExclude = false
        var testDescription: String { name }

        var capturesDNS: Bool { if case .none = dns { false } else { true } }
    }

    static let versions: [Version] = [
        Version(name: "Istio 1.0", inboundPort: 15001, tunnel: false, ssh: true, excluded: [], passthrough: false,
                owners: .plain(loopback: "ISTIO_REDIRECT")),
        Version(name: "Istio 1.4", tunnel: false, ssh: true, excluded: [15020], owners: .plain(loopback: "ISTIO_IN_REDIRECT")),
        Version(name: "Istio 1.5", tunnel: false, ssh: true, excluded: [15090, 15020]),
        Version(name: "Istio 1.7", ssh: true),
        Version(name: "Istio 1.10", ssh: true, owners: .triplets(spare: .dns), dns: .natOutput(rawMatch: "")),
        Version(name: "Istio 1.13", owners: .triplets(spare: .dns), dns: .natOutput(rawMatch: "-d")),
        Version(name: "Istio 1.20", owners: .triplets(spare: .dnsAndTunnel), dns: .natOutput(rawMatch: "-s")),
        Version(name: "Istio 1.24", owners: .triplets(spare: .dnsAndTunnel), dns: .endOfOutput),
        Version(name: "Istio 1.25", owners: .triplets(spare: .dnsAndTunnel), dns: .chains(anyServer: false)),
        Version(name: "istio-cni 1.25", excluded: [15020, 15021, 15090], owners: .triplets(spare: .dnsAndTunnel),
                dns: .chains(anyServer: true), cniOutboundExclude: true),
    ]

    /// The version's iptables-save text for IPv4, DNS server `server`.
    static func layout(_ v: Version, server: String) -> String {
        var raw: [String] = [], rawChains: [String] = []
        var nat: [String] = []
        var natChains = ["ISTIO_INBOUND", "ISTIO_IN_REDIRECT", "ISTIO_OUTPUT", "ISTIO_REDIRECT"]
        let to = "-d \(server)/32 "
        nat.append("-A PREROUTING -p tcp -j ISTIO_INBOUND")
        switch v.dns {
        case .none: nat.append("-A OUTPUT -p tcp -j ISTIO_OUTPUT")
        case .natOutput:
            nat += ["-A OUTPUT -p tcp -j ISTIO_OUTPUT",
                    "-A OUTPUT -p udp -m udp --dport 53 -m owner --uid-owner 1337 -j RETURN",
                    "-A OUTPUT -p udp -m udp --dport 53 -m owner --gid-owner 1337 -j RETURN",
                    "-A OUTPUT \(to)-p udp -m udp --dport 53 -j REDIRECT --to-ports 15053"]
        case .endOfOutput: nat += ["-A OUTPUT -p tcp -j ISTIO_OUTPUT", "-A OUTPUT -p udp -j ISTIO_OUTPUT"]
        case .chains: nat.append("-A OUTPUT -j ISTIO_OUTPUT")
        }
        if v.tunnel { nat.append("-A ISTIO_INBOUND -p tcp -m tcp --dport 15008 -j RETURN") }
        if v.ssh { nat.append("-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN") }
        nat += v.excluded.map { "-A ISTIO_INBOUND -p tcp -m tcp --dport \($0) -j RETURN" }
        nat += ["-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT", "-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports \(v.inboundPort)"]
        if v.cniOutboundExclude {
            nat += ["-A ISTIO_OUTPUT -p tcp -m tcp --dport 15020 -j RETURN", "-A ISTIO_OUTPUT -p udp -m udp --dport 15020 -j RETURN"]
        }
        if v.passthrough { nat.append("-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN") }
        switch v.owners {
        case .plain(let loopback):
            nat += ["-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j \(loopback)",
                    "-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN", "-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN"]
        case .triplets(let spared):
            for owner in ["uid", "gid"] {
                let redirectSpares = switch (spared, owner) {
                case (.nothing, _), (.dns, "gid"): ""
                case (.dns, _): "-p tcp -m tcp ! --dport 53 "
                case (.dnsAndTunnel, "uid"): "-p tcp -m multiport ! --dports 53,15008 "
                case (.dnsAndTunnel, _): "-p tcp -m tcp ! --dport 15008 "
                }
                let returnSpares = spared == .nothing ? "" : "-p tcp -m tcp ! --dport 53 "
                nat += ["-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo \(redirectSpares)-m owner --\(owner)-owner 1337 -j ISTIO_IN_REDIRECT",
                        "-A ISTIO_OUTPUT -o lo \(returnSpares)-m owner ! --\(owner)-owner 1337 -j RETURN",
                        "-A ISTIO_OUTPUT -m owner --\(owner)-owner 1337 -j RETURN"]
            }
        }
        let zones = ["-p udp -m udp --dport 53 -m owner --uid-owner 1337 -j CT --zone 1",
                     "-p udp -m udp --sport 15053 -m owner --uid-owner 1337 -j CT --zone 2",
                     "-p udp -m udp --dport 53 -m owner --gid-owner 1337 -j CT --zone 1",
                     "-p udp -m udp --sport 15053 -m owner --gid-owner 1337 -j CT --zone 2"]
        switch v.dns {
        case .none:
            nat += ["-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN", "-A ISTIO_OUTPUT -j ISTIO_REDIRECT"]
        case .natOutput(let rawMatch):
            nat += ["-A ISTIO_OUTPUT \(to)-p tcp -m tcp --dport 53 -j REDIRECT --to-ports 15053",
                    "-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN", "-A ISTIO_OUTPUT -j ISTIO_REDIRECT"]
            // Conntrack zones came in 1.11.
            if !rawMatch.isEmpty {
                raw = ["-A PREROUTING \(rawMatch) \(server)/32 -p udp -m udp --sport 53 -j CT --zone 1"]
                    + zones.map { "-A OUTPUT \($0)" } + ["-A OUTPUT \(to)-p udp -m udp --dport 53 -j CT --zone 2"]
            }
        case .endOfOutput:
            nat += ["-A ISTIO_OUTPUT \(to)-p tcp -m tcp --dport 53 -j REDIRECT --to-ports 15053",
                    "-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN", "-A ISTIO_OUTPUT -j ISTIO_REDIRECT",
                    "-A ISTIO_OUTPUT -p udp -m udp --dport 53 -m owner --uid-owner 1337 -j RETURN",
                    "-A ISTIO_OUTPUT -p udp -m udp --dport 53 -m owner --gid-owner 1337 -j RETURN",
                    "-A ISTIO_OUTPUT \(to)-p udp -m udp --dport 53 -j REDIRECT --to-ports 15053"]
            rawChains = ["ISTIO_OUTPUT"]
            raw = ["-A PREROUTING -s \(server)/32 -p udp -m udp --sport 53 -j CT --zone 1", "-A OUTPUT -p udp -j ISTIO_OUTPUT"]
                + zones.map { "-A ISTIO_OUTPUT \($0)" } + ["-A ISTIO_OUTPUT \(to)-p udp -m udp --dport 53 -j CT --zone 2"]
        case .chains(let anyServer):
            let toServer = anyServer ? "" : to
            natChains.append("ISTIO_OUTPUT_DNS")
            nat += ["-A ISTIO_OUTPUT -j ISTIO_OUTPUT_DNS", "-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN", "-A ISTIO_OUTPUT -j ISTIO_REDIRECT",
                    "-A ISTIO_OUTPUT_DNS \(toServer)-p tcp -m tcp --dport 53 -j REDIRECT --to-ports 15053",
                    "-A ISTIO_OUTPUT_DNS \(toServer)-p udp -m udp --dport 53 -j REDIRECT --to-ports 15053"]
            rawChains = ["ISTIO_INBOUND", "ISTIO_OUTPUT_DNS"]
            raw = ["-A PREROUTING -j ISTIO_INBOUND", "-A OUTPUT -j ISTIO_OUTPUT_DNS",
                   "-A ISTIO_INBOUND \(anyServer ? "" : "-s \(server)/32 ")-p udp -m udp --sport 53 -j CT --zone 1"]
                + zones.map { "-A ISTIO_OUTPUT_DNS \($0)" } + ["-A ISTIO_OUTPUT_DNS \(toServer)-p udp -m udp --dport 53 -j CT --zone 2"]
        }
        nat.append("-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001")
        func table(_ name: String, _ chains: [String], _ rules: [String]) -> String {
            rules.isEmpty ? "" : (["*\(name)"] + chains.map { ":\($0) - [0:0]" } + rules + ["COMMIT"]).joined(separator: "\n") + "\n"
        }
        return table("raw", rawChains, raw) + table("nat", natChains, nat)
    }

    @Test(.needsRoot, arguments: versions) func aVersionsRulesAreReadWithWhatWasSent(_ version: Version) throws {
        let network = try TestNetwork()
        let (workload, peer) = (network.workload, network.peer)
        let server = TestNetwork.peerAddress
        try network.serve(in: workload, port: 15001, name: "proxy")
        if version.inboundPort != 15001 { try network.serve(in: workload, port: version.inboundPort, name: "proxy-inbound") }
        try network.serve(in: peer, port: 8080, name: "peer")
        if version.capturesDNS {
            // The agent runs as the proxy's user: its replies join the query's conntrack zone.
            try network.serve(in: workload, port: 15053, name: "agent-dns", .udp, uid: 1337)
            try network.serve(in: peer, port: 53, name: "peer-dns", .udp)
        }
        let rules = Self.layout(version, server: server)
        // Half the versions through each iptables variant: verify reads both kernels' tables.
        let restore = Self.versions.firstIndex { $0.name == version.name }! % 2 == 0 ? "iptables-nft-restore" : "iptables-legacy-restore"
        _ = try workload.exec([restore, "--noflush"], input: rules)

        for _ in 0..<3 { #expect(try network.connect(from: workload, to: server, port: 8080).hasPrefix("proxy")) }
        for _ in 0..<2 { #expect(try network.connect(from: workload, to: server, port: 8080, uid: 1337).hasPrefix("peer")) }
        for _ in 0..<4 { #expect(try network.connect(from: peer, to: TestNetwork.workloadAddress, port: 8080).hasPrefix("proxy")) }
        if version.capturesDNS {
            for _ in 0..<3 { #expect(try network.connect(from: workload, to: server, port: 53, udp: true) == "agent-dns") }
            #expect(try network.connect(from: workload, to: server, port: 53, uid: 1337, udp: true) == "peer-dns")
        }

        let result = try meshcapIn(workload, ["verify", "--json"])
        let reading = try VerifyTests.verify(workload)
        let notes = (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])?["notes"] as? [String] ?? []
        let context = "\(version.name):\n\(rules)\n\(reading.rows)\n\(reading.problems)\n\(notes)"
        #expect(reading.status == 0 && reading.problems.isEmpty, "\(context)")
        #expect(reading.others.isEmpty, "another's rules in Istio's layout: \(reading.others) \(context)")
        #expect(!notes.contains { $0.contains("not a rule meshcap writes there") }, "\(context)")
        #expect(reading.totals["inbound"]?.captured == 4 && reading["inbound", "other ports", "capture"] == 4, "\(context)")
        // 1.23 and 1.24 send UDP past the jump to ISTIO_REDIRECT too, which counts it, and whose
        // REDIRECT (TCP only) does not take it: the jump's row counts the DNS queries as well,
        // the total (what the REDIRECT took) does not.
        var udpPastTheJump = 0
        if case .endOfOutput = version.dns { udpPastTheJump = 3 }
        #expect(reading.totals["outbound"]?.captured == 3 && reading["outbound", "other destinations", "capture"] == 3 + udpPastTheJump, "\(context)")
        #expect(reading["outbound", "uid 1337", "bypass"] == 2 + (version.capturesDNS ? 1 : 0), "\(context)")
        if version.capturesDNS {
            let dns = reading.rows.filter { $0.key.hasPrefix("outbound dns ") && $0.key.hasSuffix(" udp agent") }
            #expect(dns.values.reduce(0, +) == 3, "\(dns) \(context)")
        }
        if version.ssh { #expect(reading["inbound", "port 22", "exclude"] == 0, "\(context)") }

        // The same host's dump, as an operator saves it, reads the same.
        let saved = try temporaryDirectory("istio-version").appendingPathComponent("iptables-save.txt")
        try workload.exec(restore.replacingOccurrences(of: "-restore", with: "-save"), "-c").write(to: saved, atomically: true, encoding: .utf8)
        let dumped = try VerifyTests.verify(workload, ["--from", saved.path])
        #expect(dumped.status == 0 && dumped.rows == reading.rows && dumped.others.isEmpty, "from the dump: \(dumped.rows) \(dumped.problems) \(context)")
        #expect(reading.rows.keys.filter { $0.hasSuffix(" tunnel") } == (version.tunnel ? ["inbound port 15008 tunnel"] : []), "\(context)")
    }

    /// Istio ambient's in-pod redirection (istio-cni for ztunnel, 1.24 on: ISTIO_PRERT and
    /// ISTIO_OUTPUT in raw, nat and mangle, marks 0x111 and 0x539 under mask 0xfff).
    static let ambient = """
        *raw
        :ISTIO_OUTPUT - [0:0]
        :ISTIO_PRERT - [0:0]
        -A PREROUTING -j ISTIO_PRERT
        -A OUTPUT -j ISTIO_OUTPUT
        -A ISTIO_OUTPUT -p udp -m mark --mark 0x539/0xfff -m udp --dport 53 -j CT --zone 1
        -A ISTIO_PRERT -p udp -m mark ! --mark 0x539/0xfff -m udp --sport 53 -j CT --zone 1
        COMMIT
        *nat
        :ISTIO_OUTPUT - [0:0]
        :ISTIO_PRERT - [0:0]
        -A PREROUTING -j ISTIO_PRERT
        -A OUTPUT -j ISTIO_OUTPUT
        -A ISTIO_OUTPUT -d 169.254.7.127/32 -p tcp -m tcp -j ACCEPT
        -A ISTIO_OUTPUT -p tcp -m mark --mark 0x111/0xfff -j ACCEPT
        -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ACCEPT
        -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001
        -A ISTIO_PRERT -s 169.254.7.127/32 -p tcp -m tcp -j ACCEPT
        -A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp -m tcp ! --dport 15008 -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15006
        COMMIT
        *mangle
        :ISTIO_OUTPUT - [0:0]
        :ISTIO_PRERT - [0:0]
        -A PREROUTING -j ISTIO_PRERT
        -A OUTPUT -j ISTIO_OUTPUT
        -A ISTIO_OUTPUT -m connmark --mark 0x111/0xfff -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff
        -A ISTIO_PRERT -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff
        COMMIT

        """

    /// Ambient is ztunnel's capture, not a sidecar's: verify says so and never "capture looks
    /// right" (nor "nothing is captured", while ztunnel's REDIRECT takes every connection), live
    /// and from the dump of the same host.
    @Test(.needsRoot) func ambientsInPodRulesAreNamedNotJudged() throws {
        let network = try TestNetwork()
        let workload = network.workload
        try network.serve(in: workload, port: 15001, name: "ztunnel-outbound")
        _ = try workload.exec(["iptables-nft-restore", "--noflush"], input: Self.ambient)
        #expect(try network.connect(from: workload, to: TestNetwork.peerAddress, port: 8080).hasPrefix("ztunnel-outbound"))
        let live = try meshcapIn(workload, ["verify"])
        let saved = try temporaryDirectory("ambient").appendingPathComponent("iptables-save.txt")
        try workload.exec("iptables-nft-save", "-c").write(to: saved, atomically: true, encoding: .utf8)
        let dump = try meshcapIn(workload, ["verify", "--from", saved.path])
        for result in [live, dump] {
            #expect(result.status == 1 && result.stdout.contains("PROBLEM (ambient): Istio ambient's in-pod redirection is in "), "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("nat ISTIO_PRERT") && !result.stdout.contains("capture looks right") && !result.stdout.contains("no-rules"), "\(result.stdout)")
        }
        // apply and clean would replace or remove ztunnel's ISTIO_OUTPUT: both refuse, changing nothing.
        // Without the save's dated comment lines.
        func rules() throws -> [Substring] { try workload.exec("iptables-nft-save").split(separator: "\n").filter { !$0.hasPrefix("#") } }
        let before = try rules()
        let config = ["--backend", "iptables", "-i", "*", "-b", "*", "--passwd-file", "/dev/null"]
        for arguments in [["apply"] + config, ["clean", "--backend", "iptables"]] {
            let refused = try meshcapIn(workload, arguments)
            #expect(refused.status == 3 && refused.stderr.contains("ISTIO_PRERT: Istio ambient's in-pod redirection"), "\(arguments): \(refused.stderr)")
        }
        #expect(try rules() == before)
    }

    /// Istio 1.13 to 1.17 in TPROXY mode for ports 8080 and 9090, capturing outbound only to
    /// 10.96.0.0/12 and never to port 3306: mangle's mark plumbing in the built-in chains,
    /// untagged (Istio's own; the same to 1.28), and a bare return closing the include list.
    static let tproxy = """
        *mangle
        :ISTIO_DIVERT - [0:0]
        :ISTIO_INBOUND - [0:0]
        :ISTIO_TPROXY - [0:0]
        -A PREROUTING -p tcp -j ISTIO_INBOUND
        -A PREROUTING -p tcp -m mark --mark 0x539 -j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff
        -A OUTPUT -o lo -p tcp -m mark --mark 0x539 -j RETURN
        -A OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m owner --uid-owner 1337 -j MARK --set-xmark 0x53a/0xffffffff
        -A OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m owner --gid-owner 1337 -j MARK --set-xmark 0x53a/0xffffffff
        -A OUTPUT -p tcp -m connmark --mark 0x539 -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff
        -A ISTIO_DIVERT -j MARK --set-xmark 0x539/0xffffffff
        -A ISTIO_DIVERT -j ACCEPT
        -A ISTIO_INBOUND -p tcp -m mark --mark 0x539 -j RETURN
        -A ISTIO_INBOUND -s 127.0.0.6/32 -i lo -p tcp -j RETURN
        -A ISTIO_INBOUND -i lo -p tcp -m mark ! --mark 0x53a -j RETURN
        -A ISTIO_INBOUND -p tcp -m tcp --dport 8080 -m conntrack --ctstate RELATED,ESTABLISHED -j ISTIO_DIVERT
        -A ISTIO_INBOUND -p tcp -m tcp --dport 8080 -j ISTIO_TPROXY
        -A ISTIO_INBOUND -p tcp -m tcp --dport 9090 -m conntrack --ctstate RELATED,ESTABLISHED -j ISTIO_DIVERT
        -A ISTIO_INBOUND -p tcp -m tcp --dport 9090 -j ISTIO_TPROXY
        -A ISTIO_TPROXY ! -d 127.0.0.1/32 -p tcp -j TPROXY --on-port 15006 --on-ip 0.0.0.0 --tproxy-mark 0x539/0xffffffff
        COMMIT
        *nat
        :ISTIO_INBOUND - [0:0]
        :ISTIO_IN_REDIRECT - [0:0]
        :ISTIO_OUTPUT - [0:0]
        :ISTIO_REDIRECT - [0:0]
        -A OUTPUT -p tcp -j ISTIO_OUTPUT
        -A ISTIO_INBOUND -p tcp -m tcp --dport 15008 -j RETURN
        -A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
        -A ISTIO_OUTPUT -p tcp -m tcp --dport 3306 -j RETURN
        -A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN
        -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT
        -A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN
        -A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
        -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT
        -A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN
        -A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
        -A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
        -A ISTIO_OUTPUT -d 10.96.0.0/12 -j ISTIO_REDIRECT
        -A ISTIO_OUTPUT -j RETURN
        -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
        COMMIT

        """

    @Test(.needsRoot) func tproxyModeOfIstio113To117() throws {
        let network = try TestNetwork()
        let (workload, peer) = (network.workload, network.peer)
        // What istio-iptables sets up beside the rules: marked packets delivered locally.
        _ = try workload.exec("ip", "rule", "add", "fwmark", "1337", "lookup", "133")
        _ = try workload.exec("ip", "route", "add", "local", "default", "dev", "lo", "table", "133")
        try network.serve(in: workload, port: 15006, name: "proxy-inbound", .transparent)
        try network.serve(in: workload, port: 9191, name: "app")
        try network.serve(in: peer, port: 8080, name: "peer")
        try network.serve(in: peer, port: 3306, name: "peer-db")
        _ = try workload.exec(["iptables-legacy-restore", "--noflush"], input: Self.tproxy)

        for _ in 0..<3 { #expect(try network.connect(from: peer, to: TestNetwork.workloadAddress, port: 8080).hasPrefix("proxy-inbound")) }
        for _ in 0..<2 { #expect(try network.connect(from: peer, to: TestNetwork.workloadAddress, port: 9191).hasPrefix("app")) }
        for _ in 0..<2 { #expect(try network.connect(from: workload, to: TestNetwork.peerAddress, port: 8080).hasPrefix("peer")) }
        #expect(try network.connect(from: workload, to: TestNetwork.peerAddress, port: 3306).hasPrefix("peer-db"))

        let result = try meshcapIn(workload, ["verify", "--json"])
        let reading = try VerifyTests.verify(workload)
        let notes = (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])?["notes"] as? [String] ?? []
        let context = "\(reading.rows)\n\(reading.problems)\n\(notes)"
        #expect(reading.status == 0 && reading.problems.isEmpty && reading.others.isEmpty, "\(reading.others) \(context)")
        #expect(!notes.contains { $0.contains("not a rule meshcap writes there") }, "\(context)")
        // TPROXY's rules count packets, not connections: at least the three SYNs.
        #expect(reading["inbound", "port 8080", "capture"] >= 3 && reading["inbound", "port 9090", "capture"] == 0, "\(context)")
        #expect(reading["outbound", "other destinations", "exclude"] == 2 && reading["outbound", "port 3306/tcp", "exclude"] == 1, "\(context)")
        #expect(reading["outbound", "10.96.0.0/12", "capture"] == 0 && reading.rows.keys.contains("inbound tproxy marks mark"), "\(context)")
    }
}
