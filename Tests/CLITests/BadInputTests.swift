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
        let encoding: String.Encoding
        var testDescription: String { name }

        init(_ name: String, config: String? = nil, encoding: String.Encoding = .utf8, flags: [String] = [], _ message: String) {
            self.name = name
            self.config = config
            self.encoding = encoding
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
        Case("unknown key under --strict", config: "ISTIO_INBOUND_PORT=8080", flags: ["--strict"],
             #"input.env:1: unknown key ISTIO_INBOUND_PORT (did you mean ISTIO_INBOUND_PORTS?)"#),
        Case("a key set twice under --strict", config: "PROXY_PORT=1\nPROXY_PORT=2", flags: ["--strict"],
             #"input.env:2: PROXY_PORT is set 2 times in"#),
        Case("a losing value is still checked", config: "PROXY_PORT=abc\nPROXY_PORT=15001",
             #"input.env:1: PROXY_PORT="abc": "abc" is not a port number"#),
        Case("unknown flag", flags: ["--istio-inbound-port", "8080"], #"meshcap: meshcap compile does not take "--istio-inbound-port" (did you mean --istio-inbound-ports?)"#),
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
        Case("missing config file", flags: ["--config", "/nonexistent/cluster.env"],
             "cannot open the config file /nonexistent/cluster.env: No such file or directory (ENOENT)"),
        Case("a directory as config", flags: ["--config", "/tmp"], "the config file /tmp is a directory, not a regular file"),
        Case("an endless device as config", flags: ["--config", "/dev/zero"], "the config file /dev/zero is a character device, not a regular file"),
        Case("an endless device as passwd file", flags: ["--passwd-file", "/dev/zero"], "the passwd file /dev/zero is a character device, not a regular file"),
        Case("an endless device as group file", flags: ["--group-file", "/dev/urandom"], "the group file /dev/urandom is a character device, not a regular file"),
        Case("an endless device as resolv.conf", config: "REDIRECT_DNS=true", flags: ["--resolv-conf", "/dev/zero"],
             "the resolver file /dev/zero is a character device, not a regular file (read because DNS capture is on"),
        Case("a binary config", config: "PROXY_PORT=15001\nELF\u{0}\u{1}", "input.env:2: a NUL byte at byte 4 of the line"),
        Case("a config that is not UTF-8", config: "# caf\u{E9}\n", encoding: .isoLatin1, "input.env:1: not UTF-8: byte 0xE9 at byte 6 of the line"),
        Case("control bytes are written out, not sent to the terminal", config: "PROXY_PORT=\u{1b}[2J\u{7}",
             #"input.env:1: PROXY_PORT="\x1b[2J\x07": "\x1b[2J\x07" is not a port number"#),
        Case("an invisible byte-order mark inside a key", config: "# first line\n\u{FEFF}PROXY_PORT=1",
             #"input.env:2: "\u{FEFF}PROXY_PORT" is not a key name"#),
        Case("IPv6 output without IPv6", flags: ["--family", "ipv6"], "--family ipv6 needs ENABLE_INBOUND_IPV6=true"),
    ]

    @Test(arguments: cases)
    func badInputExitsTwoNamesTheProblemAndWritesNothing(_ item: Case) throws {
        let (result, wrote) = try compile(config: item.config, encoding: item.encoding, item.flags)
        #expect(result.status == 2, "exit \(result.status), stderr: \(result.stderr)")
        #expect(result.stderr.contains(item.message), "stderr: \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").allSatisfy { $0.hasPrefix("meshcap: ") })
        #expect(!result.stderr.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "a control byte reached the terminal")
        #expect(result.stdout.isEmpty)
        #expect(!wrote, "an output directory appeared for bad input")
    }

    /// A FIFO nobody writes to used to block `open(2)` forever.
    @Test func aFIFOIsRefusedInsteadOfWaitedFor() throws {
        let work = try temporaryDirectory("fifo")
        defer { try? FileManager.default.removeItem(at: work) }
        let fifo = work.appendingPathComponent("cluster.env").path
        #expect(mkfifo(fifo, 0o600) == 0)
        for option in ["--config", "--passwd-file", "--group-file"] {
            let (result, wrote) = try compile(config: nil, [option, fifo])
            #expect(result.status == 2)
            #expect(result.stderr.contains("\(fifo) is a FIFO, not a regular file"), "\(result.stderr)")
            #expect(!wrote)
        }
    }

    @Test func allProblemsOfAFileAreReportedTogether() throws {
        let (result, _) = try compile(config: "PROXY_PORT=x\nISTIO_SERVICE_CIDR=1.2.3.4/8\nISTIO_INBOUND_PORT=80")
        #expect(result.status == 2)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 3, "stderr: \(result.stderr)")
        // The unknown key (likely a typo) is said beside the errors, not after they are fixed.
        #expect(lines.first?.hasPrefix("meshcap: warning: ") == true && lines.first?.contains("ISTIO_INBOUND_PORT (did you mean ISTIO_INBOUND_PORTS?)") == true)
    }
}
