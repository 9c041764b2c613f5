import Foundation
import Testing
@testable import MeshCapture

let noAccounts = AccountDatabase(users: ["root": 0, "istio-proxy": 1337], groups: ["root": 0, "java": 10001])

func load(_ files: [String] = [], flags: [String] = []) throws -> LoadedConfig {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshcap-config-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let paths = try files.enumerated().map { index, text in
        let url = directory.appendingPathComponent("\(index).env")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }
    return try ConfigLoader.load(files: paths, flags: flags, accounts: noAccounts)
}

/// The messages of a failed load, without the temporary file names.
func errors(_ files: [String] = [], flags: [String] = []) -> [String] {
    do {
        _ = try load(files, flags: flags)
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

    @Test func shellSyntaxIsRefusedNotExpanded() {
        #expect(errors(["ISTIO_SERVICE_CIDR=$CIDR"]) == [#"ISTIO_SERVICE_CIDR: "$" is shell syntax; allowed: a plain value, or one in single or double quotes, without shell expansion"#])
        #expect(errors(["ISTIO_SERVICE_CIDR=\"$CIDR\""]).first?.contains("would be expanded by a shell") == true)
        #expect(errors(["ISTIO_INBOUND_PORTS=80 443"]).first?.contains("unquoted value with a space") == true)
        #expect(errors(["ISTIO_INBOUND_PORTS='80"]).first?.contains("quote is not closed") == true)
        #expect(errors(["just words"]) == [#""just words" is not KEY=VALUE"#])
    }

    @Test func unknownKeyNamesTheNearestKnownOne() {
        #expect(errors(["ISTIO_SERVICE_CDIR=10.0.0.0/8"]) == ["unknown key ISTIO_SERVICE_CDIR (did you mean ISTIO_SERVICE_CIDR?); `meshcap keys` lists them all"])
        #expect(errors(flags: ["--istio-service-cdir", "x"]) == ["unknown flag --istio-service-cdir (did you mean --istio-service-cidr?)"])
    }

    @Test func documentedButDeadKeyIsAnError() {
        #expect(errors(["ISTIO_INBOUND_EXCLUDE_PORTS=22"]).first?.contains("use") == false)
        #expect(errors(["ISTIO_INBOUND_EXCLUDE_PORTS=22"]).first?.contains("ISTIO_LOCAL_EXCLUDE_PORTS") == true)
    }

    @Test func ignoredKeysAreAcceptedAndReported() throws {
        let loaded = try load(["DRY_RUN=true\nISTIO_META_CLUSTER_ID=kops\nCA_ADDR=istiod:15012"])
        #expect(loaded.config == InterceptConfig())
        #expect(loaded.notes.count == 3)
        #expect(loaded.notes.contains { $0.contains("ISTIO_META_CLUSTER_ID is proxy metadata") })
    }

    @Test func everyErrorIsReportedAtOnceInWrittenOrder() {
        let found = errors(["PROXY_PORT=0\nNO_SUCH=1\nINBOUND_PORTS_INCLUDE=x", "bad line"], flags: ["-z", "x"])
        #expect(found.count == 5)
        #expect(found.map { $0.prefix(8) } == ["PROXY_PO", "unknown ", "INBOUND_", "\"bad lin", "INBOUND_"])
    }

    @Test func inertSettingsAreExplained() throws {
        let notes = try load(["INBOUND_PORTS_INCLUDE=80\nINBOUND_PORTS_EXCLUDE=22\nREDIRECT_DNS=true"]).notes
        #expect(notes.contains { $0.hasPrefix("INBOUND_PORTS_EXCLUDE is ignored") })
        #expect(notes.contains { $0.hasPrefix("REDIRECT_DNS is ignored") })
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
