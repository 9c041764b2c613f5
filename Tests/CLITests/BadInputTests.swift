import Foundation
import Testing
import TestSupport

/// Bad input: exit code 2, a message naming where, the key, the value and what is allowed, and
/// nothing written.
@Suite struct BadInputTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let config: String?
        let flags: [String]
        let message: String
        var testDescription: String { name }

        init(_ name: String, config: String? = nil, flags: [String] = [], _ message: String) {
            self.name = name
            self.config = config
            self.flags = flags
            self.message = message
        }
    }

    static let cases: [Case] = [
        Case("malformed CIDR", config: "ISTIO_SERVICE_CIDR=10.96.0/12",
             #"input.env:1: ISTIO_SERVICE_CIDR="10.96.0/12": "10.96.0/12" is not an IPv4 or IPv6 prefix; allowed: IPv4 or IPv6 prefixes"#),
        Case("host bits set", config: "\n\nOUTBOUND_IPRANGES_EXCLUDE=10.0.0.1/8",
             #"input.env:3: OUTBOUND_IPRANGES_EXCLUDE="10.0.0.1/8": "10.0.0.1/8" has host bits set (0.0.0.1 lies outside the /8 mask); the network is 10.0.0.0/8"#),
        Case("IPv6 address where IPv4 is required", config: "DNS_SERVERS_V4=fd00::10",
             #"DNS_SERVERS_V4="fd00::10": fd00::10 is an IPv6 address; allowed: IPv4 addresses separated by commas"#),
        Case("IPv4 address where IPv6 is required", flags: ["--dns-servers-v6", "10.96.0.10"],
             #"flag --dns-servers-v6: DNS_SERVERS_V6="10.96.0.10": 10.96.0.10 is an IPv4 address; allowed: IPv6 addresses"#),
        Case("port out of range", flags: ["-b", "8080,65536"],
             #"flag -b: INBOUND_PORTS_INCLUDE="8080,65536": 65536 is outside 1–65535; allowed: ports 1–65535 separated by commas, or * for all"#),
        Case("port zero", config: "PROXY_PORT=0", #"PROXY_PORT="0": 0 is outside 1–65535; allowed: one port 1–65535"#),
        Case("empty list item", config: "ISTIO_LOCAL_EXCLUDE_PORTS=22,,15090",
             #"ISTIO_LOCAL_EXCLUDE_PORTS="22,,15090": item 2 of the list is empty; allowed: ports 1–65535 separated by commas (no *: this is an exclude list)"#),
        Case("star in an exclude list", config: "ISTIO_SERVICE_EXCLUDE_CIDR=*",
             #"ISTIO_SERVICE_EXCLUDE_CIDR="*": * would exclude every destination; allowed:"#),
        Case("non-numeric mark", flags: ["-t", "0x53g"],
             #"flag -t: INBOUND_TPROXY_MARK="0x53g": "0x53g" is not a number; allowed: a packet mark 1–4294967295, decimal or 0x-hex"#),
        Case("route table out of range", config: "ISTIO_INBOUND_TPROXY_ROUTE_TABLE=4294967296",
             #"ISTIO_INBOUND_TPROXY_ROUTE_TABLE="4294967296": 4294967296 does not fit in 32 bits; allowed: a routing table 1–252 or 256–4294967295"#),
        Case("reserved route table", config: "INBOUND_TPROXY_ROUTE_TABLE=255", #"table 255 is reserved"#),
        Case("unknown key", config: "ISTIO_INBOUND_PORT=8080",
             #"input.env:1: unknown key ISTIO_INBOUND_PORT (did you mean ISTIO_INBOUND_PORTS?)"#),
        Case("unknown flag", flags: ["--istio-inbound-port", "8080"], #"flag --istio-inbound-port: unknown flag --istio-inbound-port (did you mean --istio-inbound-ports?)"#),
        Case("interface name too long", config: "EXCLUDE_INTERFACES=enp0s31f6-management",
             #"EXCLUDE_INTERFACES="enp0s31f6-management": "enp0s31f6-management" is 20 bytes; Linux allows 15; allowed: interface names of 1–15"#),
        Case("interface name with a space", config: #"KUBE_VIRT_INTERFACES="eth 1""#, #"KUBE_VIRT_INTERFACES="eth 1": "eth 1" contains a space"#),
        Case("interface name with a slash", flags: ["-c", "eth0/1"], #"EXCLUDE_INTERFACES="eth0/1": "eth0/1" contains '/'"#),
        Case("shell metacharacter in an interface name", config: "EXCLUDE_INTERFACES='eth0;rm'",
             #"EXCLUDE_INTERFACES="eth0;rm": "eth0;rm" contains the shell metacharacter ';'"#),
        Case("shell metacharacter in a group name", flags: ["-g", "proxy$(id)"],
             #"PROXY_GID="proxy$(id)": "proxy$(id)" contains the shell metacharacter '$'"#),
        Case("user that does not exist", flags: ["-u", "no-such-user-meshcap"],
             #"PROXY_UID="no-such-user-meshcap": "no-such-user-meshcap" is neither a number nor a user in /etc/passwd; allowed: user IDs 0–4294967294 or user names from /etc/passwd"#),
        Case("group that does not exist", config: "ISTIO_OUTBOUND_OWNER_GROUPS=no-such-group-meshcap",
             #""no-such-group-meshcap" is neither a number nor a group in /etc/group"#),
        Case("unknown interception mode", config: "ISTIO_INBOUND_INTERCEPTION_MODE=DNAT",
             #"ISTIO_INBOUND_INTERCEPTION_MODE="DNAT": "DNAT" is not an interception mode; allowed: REDIRECT or TPROXY"#),
        Case("shell expansion in a value", config: "ISTIO_SERVICE_CIDR=${CIDR}", #"ISTIO_SERVICE_CIDR: "$" is shell syntax"#),
        Case("missing config file", flags: ["--config", "/nonexistent/cluster.env"], "cannot read the config file /nonexistent/cluster.env"),
        Case("IPv6 output without IPv6", flags: ["--family", "ipv6"], "--family ipv6 needs ENABLE_INBOUND_IPV6=true"),
    ]

    @Test(arguments: cases)
    func badInputExitsTwoNamesTheProblemAndWritesNothing(_ item: Case) throws {
        let (result, wrote) = try compile(config: item.config, item.flags)
        #expect(result.status == 2, "exit \(result.status), stderr: \(result.stderr)")
        #expect(result.stderr.contains(item.message), "stderr: \(result.stderr)")
        #expect(result.stderr.hasPrefix("meshcap: "))
        #expect(result.stdout.isEmpty)
        #expect(!wrote, "an output directory appeared for bad input")
    }

    @Test func allProblemsOfAFileAreReportedTogether() throws {
        let (result, _) = try compile(config: "PROXY_PORT=x\nISTIO_SERVICE_CIDR=1.2.3.4/8\nNOPE=1")
        #expect(result.status == 2)
        #expect(result.stderr.split(separator: "\n").count == 3, "stderr: \(result.stderr)")
    }
}
