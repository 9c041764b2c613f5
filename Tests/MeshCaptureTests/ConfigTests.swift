import Foundation
import Testing
@testable import MeshCapture
import TestSupport

let noAccounts = AccountDatabase(users: ["root": 0, "istio-proxy": 1337], groups: ["root": 0, "java": 10001])

/// Loads `files` (texts, written to 0.env, 1.env, ... in a fresh directory) and `flags`.
func load(_ files: [String] = [], environment: [String: String] = [:], flags: [String] = [], accounts: AccountDatabase = noAccounts,
          resolvConf: String = "/dev/null", strict: Bool = false) throws -> LoadedConfig {
    try loadNamingFiles(files, environment: environment, flags: flags, accounts: accounts, resolvConf: resolvConf, strict: strict).loaded
}

/// Like `load`, and the warnings with the directory left out ("0.env:3: ...").
func warnings(_ files: [String], flags: [String] = []) throws -> [String] {
    let (loaded, directory) = try loadNamingFiles(files, flags: flags)
    return loaded.warnings.map { $0.replacingOccurrences(of: directory + "/", with: "") }
}

func loadNamingFiles(_ files: [String], environment: [String: String] = [:], flags: [String], accounts: AccountDatabase = noAccounts,
                     resolvConf: String = "/dev/null", strict: Bool = false) throws -> (loaded: LoadedConfig, directory: String) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshcap-config-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let paths = try files.enumerated().map { index, text in
        let url = directory.appendingPathComponent("\(index).env")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }
    return (try ConfigLoader.load(files: paths, environment: { environment[$0] }, flags: flags, accounts: accounts, resolvConf: resolvConf, strict: strict), directory.path)
}

/// The messages of a failed load, without the temporary file names.
func errors(_ files: [String] = [], flags: [String] = [], strict: Bool = false) -> [String] {
    do {
        _ = try load(files, flags: flags, strict: strict)
        return []
    } catch let failure as ConfigErrors {
        return failure.errors.map(\.message)
    } catch {
        return ["unexpected \(error)"]
    }
}

@Suite struct EnvFileTests {
    @Test func readsClusterEnvSyntax() throws {
        let config = try load(["""
            # VM settings written by istioctl
            export ISTIO_SERVICE_CIDR='10.96.0.0/12'
            ISTIO_INBOUND_PORTS="8080,9090"   # the app
            ISTIO_LOCAL_EXCLUDE_PORTS=22,15090 # ssh stays reachable

            ENVOY_PORT=15001
            """]).config
        #expect(config.outboundRanges == .only([try Prefix.parse("10.96.0.0/12")]))
        #expect(config.inboundPorts == .only([8080, 9090]))
        #expect(config.inboundPortsExclude == [22, 15090])
    }

    @Test func laterFilesWinAndFlagsWinOverFiles() throws {
        let config = try load(["PROXY_PORT=1000\nINBOUND_CAPTURE_PORT=2000", "ENVOY_PORT=3000"], flags: ["-z", "4000"]).config
        #expect(config.proxyPort == 3000)
        #expect(config.inboundCapturePort == 4000)
    }

    @Test func flagSpellings() throws {
        let config = try load(flags: ["-b=80", "--istio-service-cidr", "10.0.0.0/8", "--redirect-dns", "--dns-servers-v4=10.0.0.10", "--drop-invalid=false"]).config
        #expect(config.inboundPorts == .only([80]))
        #expect(config.outboundRanges == .only([try Prefix.parse("10.0.0.0/8")]))
        #expect(config.capturesDNS)
        #expect(!config.dropInvalid)
    }

    /// `-b=` is an empty value, as `ISTIO_INBOUND_PORTS=` in a file: the next argument stays a
    /// flag of its own, and `--log=` is `MESHCAP_LOG=`, not `--log`.
    @Test func anEmptyValueAfterEqualsIsTheKeysEmptyValue() throws {
        let flags = try load(flags: ["-b=", "--redirect-dns", "--log="]).config
        let file = try load(["ISTIO_INBOUND_PORTS=\nREDIRECT_DNS=true\nMESHCAP_LOG="]).config
        #expect(flags == file)
        #expect(flags.redirectDNS && flags.inboundPorts == .none)
        #expect(flags.logPrefix == nil)
        #expect(try load(flags: ["--log"]).config.logPrefix == "meshcap")
    }

    @Test func shellSyntaxIsRefusedNotExpanded() {
        #expect(errors(["ISTIO_SERVICE_CIDR=$CIDR"]) == [#"ISTIO_SERVICE_CIDR: "$" is shell syntax; allowed: a plain value, or one in single or double quotes, without shell expansion"#])
        #expect(errors(["ISTIO_SERVICE_CIDR='10.0.0.0/8' x"]).first?.contains("text after the closing quote") == true)
        #expect(errors(["ISTIO_SERVICE_CIDR=\"$CIDR\""]).first?.contains("would be expanded by a shell") == true)
        #expect(errors(["ISTIO_INBOUND_PORTS=80 443"]).first?.contains("unquoted value with a space") == true)
        #expect(errors(["ISTIO_INBOUND_PORTS='80"]).first?.contains("quote is not closed") == true)
        #expect(errors(["just words"]) == [#""just words" is not KEY=VALUE"#])
    }

    /// A quoted value over several lines, as the shell that sources cluster.env reads it: the
    /// keys after it are read, and the value keeps its line ends; one never closed is one error,
    /// at the line that opens it.
    @Test func aQuotedValueGoesOnOverLines() throws {
        let loaded = try load(["PROXY_CONFIG=\"\nbinaryPath: /tmp/envoy\nconcurrency: 1\n\"\nISTIO_SERVICE_CIDR='10.0.0.0/8' # the mesh\nISTIO_INBOUND_PORTS=8080\n"])
        #expect(loaded.config.outboundRanges == .only([try Prefix.parse("10.0.0.0/8")]))
        #expect(loaded.values["PROXY_CONFIG"] == "\nbinaryPath: /tmp/envoy\nconcurrency: 1\n")
        // An escaped quote opens nothing, as the shell reads it: the lines after are settings.
        let escaped = try load(["OWNER='o'\\''brien'\nNOTE=\"say \\\"hi\"\nISTIO_SERVICE_CIDR=10.0.0.0/8\n"])
        #expect(escaped.config.outboundRanges == .only([try Prefix.parse("10.0.0.0/8")]))
        let broken = errors(["ISTIO_SERVICE_CIDR=10.0.0.0/8\nPROXY_CONFIG=\"\na: b\nISTIO_INBOUND_PORTS=8080\n"])
        #expect(broken == [#"PROXY_CONFIG: the " quote is not closed: it opens here and no later line closes it; allowed: a plain value, or one in single or double quotes, without shell expansion"#])
    }

    @Test func unknownKeysAreWarningsThatNameTheNearestKnownOne() throws {
        let text = "ISTIO_SERVICE_CDIR=10.0.0.0/8\nISTIO_INBOUND_PORT=8080\nBOOTSTRAP_XDS_AGENT=true"
        #expect(try load([text]).config == InterceptConfig())
        #expect(try warnings([text]) == [
            "0.env:1: unknown key ISTIO_SERVICE_CDIR (did you mean ISTIO_SERVICE_CIDR?); it shapes no rule (`meshcap keys` lists the keys)",
            "0.env:2: unknown key ISTIO_INBOUND_PORT (did you mean ISTIO_INBOUND_PORTS?); it shapes no rule (`meshcap keys` lists the keys)",
            "0.env:3: unknown key BOOTSTRAP_XDS_AGENT; it shapes no rule (`meshcap keys` lists the keys)",
        ])
        #expect(errors(["ISTIO_INBOUND_PORT=8080"], strict: true) == ["unknown key ISTIO_INBOUND_PORT (did you mean ISTIO_INBOUND_PORTS?); it shapes no rule (`meshcap keys` lists the keys) (--strict)"])
        #expect(errors(flags: ["--istio-service-cdir", "x"]) == ["unknown flag --istio-service-cdir (did you mean --istio-service-cidr?)"])
    }

    /// Past the first `unknownKeysNamed`, unknown keys are counted in one line at the first
    /// of them, with --strict as without: a file of 100,000 is not searched 100,000 times.
    @Test func unknownKeysPastTheFirstTwentyAreCountedInOneLine() throws {
        let keys = (1...25).map { "NO_SUCH_KEY_\($0)=1" }.joined(separator: "\n") + "\nISTIO_INBOUND_PORT=8080"
        let said = try warnings([keys])
        #expect(said.count == 21)
        #expect(said.first == "0.env:1: unknown key NO_SUCH_KEY_1; it shapes no rule (`meshcap keys` lists the keys)")
        #expect(said.last == "0.env:21: unknown key NO_SUCH_KEY_21 and 5 more unknown keys after it; they shape no rule (`meshcap keys` lists the keys)")
        let refused = errors([keys], strict: true)
        #expect(refused.count == 21)
        #expect(refused.last == "unknown key NO_SUCH_KEY_21 and 5 more unknown keys after it; they shape no rule (`meshcap keys` lists the keys) (--strict)")
        // The 21st alone is said as the others are, nearest key and all.
        let one = try warnings([(1...20).map { "NO_SUCH_KEY_\($0)=1" }.joined(separator: "\n") + "\nISTIO_INBOUND_PORT=8080"])
        #expect(one.last == "0.env:21: unknown key ISTIO_INBOUND_PORT (did you mean ISTIO_INBOUND_PORTS?); it shapes no rule (`meshcap keys` lists the keys)")
    }

    @Test func documentedButDeadKeyIsAnError() {
        #expect(errors(["ISTIO_INBOUND_EXCLUDE_PORTS=22"]).first?.contains("use") == false)
        #expect(errors(["ISTIO_INBOUND_EXCLUDE_PORTS=22"]).first?.contains("ISTIO_LOCAL_EXCLUDE_PORTS") == true)
    }

    @Test func ignoredKeysAreAcceptedAndReported() throws {
        let loaded = try load(["RUN_VALIDATION=true\nISTIO_META_CLUSTER_ID=kops\nCA_ADDR=istiod:15012"])
        #expect(loaded.config == InterceptConfig())
        #expect(loaded.notes.count == 3)
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.notes.contains { $0.contains("ISTIO_META_CLUSTER_ID is proxy metadata") })
    }

    @Test func everyErrorIsReportedAtOnceInWrittenOrder() {
        let found = errors(["PROXY_PORT=0\nNO_SUCH=1\nINBOUND_PORTS_INCLUDE=x", "bad line"], flags: ["-z", "x"], strict: true)
        #expect(found.count == 5)
        #expect(found.map { $0.prefix(8) } == ["PROXY_PO", "unknown ", "INBOUND_", "\"bad lin", "INBOUND_"])
    }

    /// What writes no rule is a warning (not a note for --verbose), with where it was set.
    @Test func droppedSettingsAreSaid() throws {
        let loaded = try load(["INBOUND_PORTS_INCLUDE=80\nINBOUND_PORTS_EXCLUDE=22\nREDIRECT_DNS=true\nDNS_SERVERS_V4="])
        #expect(loaded.warnings.contains { $0.hasPrefix("INBOUND_PORTS_EXCLUDE (") && $0.hasSuffix(":2) writes no rule: it only applies when INBOUND_PORTS_INCLUDE is * (the inbound ports captured are listed, or none)") }, "\(loaded.warnings)")
        // A DNS request that leads to no rule is a warning, not a note.
        #expect(loaded.warnings.contains { $0.hasSuffix(":3: REDIRECT_DNS=true writes no DNS rule: there is no DNS server to capture and CAPTURE_ALL_DNS is false") }, "\(loaded.warnings)")
    }

    /// The IPv6 half of istioctl's dual-stack range on a VM without IPv6, ranges inside others,
    /// and a captured range that an exclusion covers whole: each named, on stderr by default.
    @Test func droppedAddressesAndRangesAreNamed() throws {
        let dual = try load(["ISTIO_SERVICE_CIDR='10.96.0.0/12,fd00:10:96::/112'"])
        #expect(dual.warnings.contains { $0.contains("OUTBOUND_IPRANGES_INCLUDE (") && $0.contains("has IPv6 addresses, and ENABLE_INBOUND_IPV6 is false: no rule is written for fd00:10:96::/112") }, "\(dual.warnings)")
        #expect(try load(["ISTIO_SERVICE_CIDR='10.96.0.0/12,fd00:10:96::/112'\nENABLE_INBOUND_IPV6=true"]).warnings.isEmpty)
        let nested = try load(["OUTBOUND_IPRANGES_INCLUDE=10.0.0.0/8,10.96.0.0/12,192.0.2.0/24,10.96.5.0/24\nOUTBOUND_IPRANGES_EXCLUDE=192.0.0.0/16"])
        #expect(nested.warnings.contains { $0.contains("lists ranges inside others it lists, which add nothing: 10.96.0.0/12 within 10.0.0.0/8, 10.96.5.0/24 within 10.0.0.0/8") }, "\(nested.warnings)")
        #expect(nested.warnings.contains { $0.contains("never captured: 192.0.2.0/24 within 192.0.0.0/16") }, "\(nested.warnings)")
        #expect(try load(["OUTBOUND_IPRANGES_INCLUDE=10.0.0.0/8,11.0.0.0/8\nOUTBOUND_IPRANGES_EXCLUDE=10.1.0.0/16"]).warnings.isEmpty)
    }

    /// Against a pairwise check, on seeded random lists (prefixes of few lengths, so many nest).
    @Test func nestedRangesAreFoundAsAPairwiseCheckFindsThem() {
        var random = SeededRandom.forTest(#function)
        for round in 0..<200 {
            func prefixes(_ count: Int) -> [Prefix] {
                (0..<count).map { _ in
                    let length = [8, 12, 16, 24][Int.random(in: 0...3, using: &random)]
                    let raw = UInt32.random(in: 0...0x0300_0000, using: &random) | 0x0a00_0000
                    return try! Prefix(network: .v4(raw & (UInt32.max << (32 - length))), length: length)
                }
            }
            let items = prefixes(Int.random(in: 0...20, using: &random)), covers = prefixes(Int.random(in: 0...5, using: &random))
            let inItself = Set(items.enumerated().filter { index, item in items.enumerated().contains { $0.offset != index && $0.element != item && $0.element.contains(item) } }.map(\.element))
            #expect(Set(DroppedSettings.nested(items).map(\.inner)) == inItself, "seed \(SeededRandom.seed), round \(round)")
            let inCovers = Set(items.filter { item in covers.contains { $0.contains(item) } })
            #expect(Set(DroppedSettings.nested(items, within: covers).map(\.inner)) == inCovers, "seed \(SeededRandom.seed), round \(round)")
        }
    }

    @Test func proxyGroupsFollowProxyUsersUntilSet() throws {
        #expect(try load(["PROXY_UID=5000"]).config.proxyGroups == [.id(5000)])
        #expect(try load(["PROXY_UID=5000\nPROXY_GID=6000"]).config.proxyGroups == [.id(6000)])
    }
}

@Suite struct ValueTests {
    func message(_ line: String) -> String { errors([line]).first ?? "(accepted)" }

    @Test func ports() {
        #expect(message("INBOUND_PORTS_INCLUDE=80,70000") == #"INBOUND_PORTS_INCLUDE="80,70000": 70000 is outside 1–65535; allowed: ports 1–65535 separated by commas, or * for all"#)
        #expect(message("INBOUND_PORTS_INCLUDE=80,,443").contains("item 2 of the list is empty"))
        #expect(message("INBOUND_PORTS_EXCLUDE=6000,7000,") == "(accepted)")
        #expect(message("INBOUND_PORTS_EXCLUDE=*").contains("* would exclude every port"))
        #expect(message("INBOUND_PORTS_INCLUDE=80,80").contains("port 80 is listed twice"))
        #expect(message("PROXY_PORT=http").contains(#""http" is not a port number"#))
    }

    @Test func prefixes() {
        #expect(message("OUTBOUND_IPRANGES_INCLUDE=10.0.0.1/8") == #"OUTBOUND_IPRANGES_INCLUDE="10.0.0.1/8": "10.0.0.1/8" has host bits set (0.0.0.1 lies outside the /8 mask); the network is 10.0.0.0/8; allowed: IPv4 or IPv6 prefixes such as 10.96.0.0/12 or fd00::/8 separated by commas, or * for all"#)
        #expect(message("OUTBOUND_IPRANGES_INCLUDE=10.0.0/8").contains(#""10.0.0/8" is not an IPv4 or IPv6 prefix"#))
        #expect(message("OUTBOUND_IPRANGES_INCLUDE=10.0.0.0/33").contains("/33 is longer than an IPv4 address (32 bits)"))
        #expect(message("OUTBOUND_IPRANGES_EXCLUDE=*").contains("* would exclude every destination"))
        #expect(message("OUTBOUND_IPRANGES_INCLUDE=*,10.0.0.0/8").contains("* must stand alone"))
    }

    @Test func familyMixups() {
        #expect(message("DNS_SERVERS_V4=::1").contains("::1 is an IPv6 address; allowed: IPv4 addresses"))
        #expect(message("DNS_SERVERS_V6=10.0.0.1").contains("10.0.0.1 is an IPv4 address"))
        #expect(message("HOST_IPV4_LOOPBACK_CIDR=::1/128").contains("is an IPv6 prefix"))
    }

    @Test func marksAndTables() {
        #expect(message("INBOUND_TPROXY_MARK=abc").contains(#""abc" is not a number"#))
        #expect(message("INBOUND_TPROXY_MARK=0x539") == "(accepted)")
        #expect(message("INBOUND_TPROXY_ROUTE_TABLE=254").contains("table 254 is reserved"))
        #expect(message("INBOUND_TPROXY_ROUTE_TABLE=99999999999").contains("does not fit in 32 bits"))
    }

    @Test func interfaces() {
        #expect(message("EXCLUDE_INTERFACES=averyveryverylongname").contains("is 21 bytes; Linux allows 15"))
        #expect(message("EXCLUDE_INTERFACES='eth 0'").contains("contains a space"))
        #expect(message("EXCLUDE_INTERFACES=eth/0").contains("contains '/'"))
        #expect(message("KUBE_VIRT_INTERFACES='eth0;reboot'").contains("shell metacharacter ';'"))
        #expect(message("EXCLUDE_INTERFACES=eth0.100,br-lan") == "(accepted)")
    }

    @Test func owners() {
        #expect(message("PROXY_UID=nobody-here").contains(#""nobody-here" is neither a number nor a user in (none)"#))
        #expect(message("PROXY_UID=istio-proxy") == "(accepted)")
        #expect(message("OUTBOUND_OWNER_GROUPS_INCLUDE=java,202") == "(accepted)")
        #expect(message("PROXY_GID=4294967295").contains("outside 0–4294967294"))
        #expect(message("PROXY_UID='a$(id)'").contains("shell metacharacter '$'"))
        let many = (1...65).map(String.init).joined(separator: ",")
        #expect(message("OUTBOUND_OWNER_GROUPS_INCLUDE=\(many)").contains("65 groups are listed"))
    }

    @Test func modesAndBooleans() {
        #expect(message("INBOUND_INTERCEPTION_MODE=tproxy") == #"INBOUND_INTERCEPTION_MODE="tproxy": "tproxy" is not an interception mode (did you mean TPROXY?); allowed: REDIRECT or TPROXY"#)
        #expect(message("REDIRECT_DNS=yes").contains(#""yes" is not a boolean; allowed: true or false"#))
    }
}

/// A key set twice is said, and every value is checked, not only the one that wins.
@Suite struct RepetitionTests {
    @Test func theSameKeyTwiceInOneFileIsReported() throws {
        #expect(try warnings(["PROXY_PORT=15001\n# later\nPROXY_PORT=16001"]) == [
            "0.env:3: PROXY_PORT is set 2 times in 0.env (lines 1, 3); the last, PROXY_PORT=16001 (0.env:3), wins",
        ])
        #expect(try load(["PROXY_PORT=15001\nPROXY_PORT=16001"]).config.proxyPort == 16001)
        #expect(errors(["PROXY_PORT=1\nPROXY_PORT=2"], strict: true).first?.hasSuffix("(--strict)") == true)
    }

    @Test func twoNamesOfOneKeyAreReported() throws {
        #expect(try warnings(["ISTIO_SERVICE_CIDR=10.96.0.0/12", "OUTBOUND_IPRANGES_INCLUDE=10.0.0.0/8"]) == [
            "1.env:1: ISTIO_SERVICE_CIDR (0.env:1) and OUTBOUND_IPRANGES_INCLUDE (1.env:1) set the same thing, OUTBOUND_IPRANGES_INCLUDE; the later wins: OUTBOUND_IPRANGES_INCLUDE=10.0.0.0/8 (1.env:1)",
        ])
        #expect(try load(["ISTIO_SERVICE_CIDR=10.96.0.0/12", "OUTBOUND_IPRANGES_INCLUDE=10.0.0.0/8"]).config.outboundRanges == .only([try Prefix.parse("10.0.0.0/8")]))
    }

    @Test func layeringFilesAndOverridingFlagsIsNotReported() throws {
        #expect(try warnings(["ISTIO_INBOUND_PORTS=*", "ISTIO_INBOUND_PORTS=8080"], flags: ["-b", "9090"]).isEmpty)
        #expect(try warnings([""], flags: ["-b", "80", "-b", "90"]) == ["flag -b: INBOUND_PORTS_INCLUDE is given 2 times as a flag; the last, 90, wins"])
    }

    @Test func aBadValueThatLosesIsStillAnError() {
        #expect(errors(["PROXY_PORT=abc\nPROXY_PORT=15001"]) == [#"PROXY_PORT="abc": "abc" is not a port number; allowed: one port 1–65535"#])
        #expect(errors(["ISTIO_SERVICE_CIDR=10.0.0.1/8"], flags: ["-i", "10.0.0.0/8"]).count == 1)
    }
}

/// Values as a shell word, the way istioctl writes them (`shellescape.Quote`).
@Suite struct ShellWordTests {
    @Test func quotedPiecesJoinIntoOneValue() throws {
        #expect(try load(["ISTIO_SERVICE_CIDR='10.96.0.0/12,'\"fd00::/8\""]).config.outboundRanges.listed.count == 2)
        #expect(try load(["export\tISTIO_INBOUND_PORTS='8080'   # the app"]).config.inboundPorts == .only([8080]))
        #expect(try load(["export \t ISTIO_INBOUND_PORTS=8080"]).config.inboundPorts == .only([8080]))
        // A shell reads `#` as a comment only after a blank.
        #expect(errors(["PROXY_PORT=#1"]) == [##"PROXY_PORT="#1": "#1" is not a port number; allowed: one port 1–65535"##])
    }

    /// Backslashes as the shell that sources the file reads them, checked against that shell
    /// (`sh -c '. file; printf %s "$KEY"'`) where one is installed.
    @Test func backslashesAreReadAsTheShellReadsThem() throws {
        let cases: [(line: String, value: String)] = [
            (#"NOTE='o'\''brien'"#, "o'brien"),
            (#"NOTE="say \"hi\"""#, #"say "hi""#),
            (#"NOTE="C:\dir""#, #"C:\dir"#),
            (#"NOTE="\$5 and \`x\` and \\""#, #"$5 and `x` and \"#),
            (#"NOTE=a\ b\$c"#, "a b$c"),
            (#"NOTE='single \n stays'"#, #"single \n stays"#),
            ("NOTE=\"one \\\ntwo\"", "one two"),
            // A backslash ending a line joins the next one, which is then no setting of its own.
            ("NOTE=foo\\\nB=bar", "fooB=bar"),
            // Blanks before an open quote's line end are the value's.
            ("NOTE=\"abc   \ndef\"", "abc   \ndef"),
            ("NOTE=a~b", "a~b"),
        ]
        for (line, expected) in cases {
            #expect(try load([line]).values["NOTE"] == expected, "\(line)")
            if let shell = try? shellReading(line) { #expect(shell == expected, "sh reads \(line) as \(shell)") }
        }
        #expect(errors([#"ISTIO_SERVICE_CIDR="\\$CIDR""#]).first?.contains(#""$" would be expanded by a shell"#) == true)
        #expect(try load(["NOTE=foo\\\nB=bar"]).values["B"] == nil)
        #expect(errors([#"ISTIO_SERVICE_CIDR=10.0.0.0/8\"#]).first?.contains("ends with a backslash on the file's last line") == true)
        for tilde in ["ISTIO_SERVICE_CIDR=~/cidr", "ISTIO_SERVICE_CIDR=10.0.0.0/8:~/more"] {
            #expect(errors([tilde]).first?.contains(#""~" would be expanded by a shell"#) == true, "\(tilde)")
        }
    }

    /// The value `sh` gives NOTE after sourcing a file holding `line`; nil without /bin/sh.
    private func shellReading(_ line: String) throws -> String? {
        guard FileManager.default.isExecutableFile(atPath: "/bin/sh") else { return nil }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("meshcap-word-\(UUID().uuidString).env")
        try (line + "\n").write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process(), output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", #". "$1"; printf %s "$NOTE""#, "sh", file.path]
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// Istio's start script sources the file: a key nobody reads may hold what only a shell
    /// understands. Refusing it would break a working cluster.env; reading it differently than a
    /// shell would is only a risk for keys meshcap acts on, and those are refused.
    @Test func shellSyntaxIsAnErrorOnlyWhereMeshcapReadsTheValue() throws {
        let loaded = try load([#"PROXY_CONFIG='{"a":1}'\#nISTIO_AGENT_FLAGS="--log $LEVEL""#])
        #expect(loaded.notes.contains { $0.contains("ISTIO_AGENT_FLAGS is ignored, and its value is not plain text") })
        #expect(errors([#"ISTIO_SERVICE_CIDR="$CIDR""#]).first?.contains("would be expanded by a shell") == true)
    }
}
