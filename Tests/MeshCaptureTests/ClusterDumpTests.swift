import Foundation
import Testing
@testable import MeshCapture
import TestSupport

/// `meshcap cidr`'s reading of a cluster dump, and its edit of the env file it writes the range to.
@Suite struct ClusterDumpTests {
    /// `text` read as whole lines, or, with `lastLineEnded: false`, as input that stops at its end
    /// without a line end.
    static func scan(_ text: String, lastLineEnded: Bool = true) -> ClusterDump {
        var dump = ClusterDump()
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) { dump.scan(ArraySlice(line.utf8)) }
        dump.finish(lastLineEnded: lastLineEnded)
        return dump
    }

    static func prefixes(_ text: String) -> [Prefix] {
        text.split(separator: ",").map { try! Prefix.parse($0) }
    }

    // MARK: shapes written out

    @Test func aKopsShellStringWithAQuotedValueAmongOtherFlags() {
        let dump = Self.scan(#"""
            {
                "metadata": {
                    "name": "kube-apiserver-ip-172-20-33-4.ec2.internal",
                    "namespace": "kube-system"
                },
                "spec": {
                    "containers": [
                        {
                            "name": "kube-apiserver",
                            "command": [
                                "/bin/sh",
                                "-c",
                                "mkfifo /tmp/pipe; (tee -a /var/log/kube-apiserver.log < /tmp/pipe & ) ; exec /usr/local/bin/kube-apiserver --allow-privileged=true --service-cluster-ip-range=\"100.64.0.0/13\" --service-node-port-range=30000-32767 --storage-backend=etcd3 > /tmp/pipe 2>&1"
                            ]
            """#)
        #expect(dump.findings == [.init(line: 13, prefixes: Self.prefixes("100.64.0.0/13"),
                                        place: "line 13, kube-system/kube-apiserver-ip-172-20-33-4.ec2.internal (container kube-apiserver)", oneFamily: false)])
        #expect(dump.unreadable.isEmpty)
    }

    @Test func theFlagAndItsValueAsTwoArrayElementsDualStack() {
        let dump = Self.scan("""
            "args": [
                "--service-cluster-ip-range",
                "10.96.0.0/12,fd00:10:96::/112",
                "--v=2"
            ]
            """)
        #expect(dump.findings.map(\.prefixes) == [Self.prefixes("10.96.0.0/12,fd00:10:96::/112")])
        #expect(dump.findings.map(\.line) == [3])
        #expect(Self.scan(#""command": ["kube-apiserver", "--service-cluster-ip-range", "10.0.0.0/16"]"#).findings.map(\.prefixes)
                == [Self.prefixes("10.0.0.0/16")])
    }

    @Test func disagreeingPlacesAreTwoStatementsEachWithItsPlaces() {
        let dump = Self.scan("""
            "--service-cluster-ip-range=10.96.0.0/12",
            ==== START logs for container kube-apiserver of pod kube-system/kube-apiserver-cp-1 ====
            I1126 09:14:02.551210       1 flags.go:64] FLAG: --service-cluster-ip-range="10.100.0.0/16"
            ==== END logs for container kube-apiserver of pod kube-system/kube-apiserver-cp-1 ====
            "--service-cluster-ip-range=fd00::/108,10.96.0.0/12",
            "--service-cluster-ip-range=10.96.0.0/12,fd00::/108",
            """)
        #expect(dump.statements.map(\.prefixes) == [Self.prefixes("10.96.0.0/12"), Self.prefixes("10.100.0.0/16"),
                                                     Self.prefixes("fd00::/108,10.96.0.0/12")])
        #expect(dump.statements[1].findings.map(\.place) == ["line 3, log of container kube-apiserver of pod kube-system/kube-apiserver-cp-1"])
        // The same two prefixes in either order are one range, as the first place wrote it.
        #expect(dump.statements[2].findings.map(\.line) == [5, 6])
    }

    @Test func valuesThatAreNoRangeAreReportedNotTaken() {
        let dump = Self.scan("""
            "--service-cluster-ip-range=$(SERVICE_RANGE)",
            FLAG: --service-cluster-ip-range=""
            "--service-cluster-ip-range=10.96.0.1/12",
            "--service-cluster-ip-range=10.96.0.1",
            "--service-cluster-ip-range-extra=10.0.0.0/8",
            "--service-node-port-range=30000-32767",
            """)
        #expect(dump.findings.isEmpty)
        // The empty one is the flag unset, as kube-controller-manager logs it: not worth a word.
        #expect(dump.unreadable.map(\.value) == ["$(SERVICE_RANGE)", "10.96.0.1/12", "10.96.0.1"])
        #expect(dump.unreadable.map(\.line) == [1, 3, 4])
        // Prose about the flag is not a value.
        let deprecated = Self.scan("W1127 flags.go:93] Flag --service-cluster-ip-range has been deprecated, use --service-ip-range")
        #expect(deprecated.findings.isEmpty && deprecated.unreadable.isEmpty)
    }

    /// A comment that mentions the flag is no statement of it: a YAML or shell comment is `#`
    /// starting a word outside quotes (`/events#https` and a `#` in a quoted string are not).
    @Test func commentsAreNotRead() {
        let dump = Self.scan(#"""
            spec:
              containers:
              - command:
                - kube-apiserver
                # example: --service-cluster-ip-range=10.0.0.0/24
                - --etcd-servers-overrides=/events#https://127.0.0.1:4002 # --service-cluster-ip-range=10.1.0.0/24
                - --service-cluster-ip-range=10.96.0.0/12 # kubeadm's default
            #   --service-cluster-ip-range=10.2.0.0/24
                "sh -c 'echo \" #1\"; exec kube-apiserver --service-cluster-ip-range=10.96.0.0/12'"
            """#)
        #expect(dump.findings.map(\.line) == [7, 9])
        #expect(dump.findings.allSatisfy { $0.prefixes == Self.prefixes("10.96.0.0/12") })
        #expect(dump.unreadable.isEmpty)
    }

    /// Read only in a control-plane program's command, args and own log, or where nothing says
    /// whose the words are and the flag stands as an argument: never in another container's
    /// command or log, nor in prose.
    @Test func onlyTheControlPlanesOwnWordsCount() {
        let dump = Self.scan("""
            {
                "metadata": {
                    "name": "kube-router-x1",
                    "namespace": "kube-system"
                },
                "spec": {
                    "containers": [
                        {
                            "name": "kube-router",
                            "args": [
                                "--service-cluster-ip-range=10.0.0.0/24",
                                "--run-router=true"
                            ]
                        },
                        {
                            "name": "kube-apiserver",
                            "command": [
                                "kube-apiserver",
                                "--service-cluster-ip-range=10.96.0.0/12"
                            ]
            I1126 09:14:02.551210       1 main.go:64] starting with --service-cluster-ip-range=10.1.0.0/24
            ==== START logs for container app of pod default/app-1 ====
            I1126 09:14:02.551210       1 flags.go:64] FLAG: --service-cluster-ip-range="10.2.0.0/24"
            ==== END logs for container app of pod default/app-1 ====
            ==== START logs for container kube-controller-manager of pod kube-system/kube-controller-manager-cp-1 ====
            I1126 09:14:02.551210       1 flags.go:64] FLAG: --service-cluster-ip-range="10.96.0.0/12"
            ==== END logs for container kube-controller-manager of pod kube-system/kube-controller-manager-cp-1 ====
            I1126 09:14:02.551210       1 flags.go:64] FLAG: --service-cluster-ip-range="10.96.0.0/12"
                                        "--service-cluster-ip-range=10.96.0.0/12",
            """)
        #expect(dump.findings.map(\.line) == [19, 26, 28, 29])
        #expect(dump.statements.map(\.prefixes) == [Self.prefixes("10.96.0.0/12")])
        #expect(dump.findings.map(\.place)[0...1] == ["line 19, kube-system/kube-router-x1 (container kube-apiserver)",
                                                     "line 26, log of container kube-controller-manager of pod kube-system/kube-controller-manager-cp-1"])
        #expect(dump.unreadable.isEmpty)
    }

    /// A value cut short by a truncated dump is named with its line and not taken: a list that
    /// ends with a comma, or a value that runs to the very end of the input with nothing after it
    /// (`fd00::/108` cut to `fd00::/10`). The same value with a terminator is whole.
    @Test func aValueCutShortIsReportedNotTaken() {
        let comma = Self.scan("\"--service-cluster-ip-range=10.96.0.0/12,\n\"--service-cluster-ip-range=10.96.0.0/12,\",")
        #expect(comma.findings.isEmpty)
        #expect(comma.unreadable == [1, 2].map {
            .init(line: $0, value: "10.96.0.0/12,", place: "line \($0)", problem: "ends with a comma: the list is cut short after it")
        })
        let last = "    - --service-cluster-ip-range=10.96.0.0/12,fd00::/10"
        let cut = Self.scan("command:\n    - kube-apiserver\n" + last, lastLineEnded: false)
        #expect(cut.findings.isEmpty)
        #expect(cut.unreadable == [.init(line: 3, value: "10.96.0.0/12,fd00::/10", place: "line 3",
                                         problem: "ends the input with nothing after it (no quote, comma, blank or line end): the dump may be cut short inside it")])
        #expect(Self.scan("command:\n    - kube-apiserver\n" + last).findings.map(\.prefixes) == [Self.prefixes("10.96.0.0/12,fd00::/10")])
        // A quote or a blank after it ends the value, line end or not; so does a refusal's.
        for whole in [#"FLAG: --service-cluster-ip-range="10.96.0.0/12""#, "run kube-apiserver --service-cluster-ip-range=10.96.0.0/12 ",
                      "The range of valid IPs is 10.96.0.0/12\""] {
            #expect(Self.scan(whole, lastLineEnded: false).findings.map(\.prefixes) == [Self.prefixes("10.96.0.0/12")], "\(whole)")
        }
        #expect(Self.scan("The range of valid IPs is 10.96.0.0/1", lastLineEnded: false).findings.isEmpty)
    }

    /// `kubectl cluster-info dump -o yaml`: the flag and its value as two list items.
    @Test func yamlListItems() {
        let dump = Self.scan("""
                command:
                - kube-apiserver
                - --service-cluster-ip-range
                - 10.96.0.0/12,fd00:10:96::/112
                - --service-account-issuer=https://kubernetes.default.svc
                args: ["--service-cluster-ip-range", '100.64.0.0/13']
            """)
        #expect(dump.findings.map(\.prefixes) == [Self.prefixes("10.96.0.0/12,fd00:10:96::/112"), Self.prefixes("100.64.0.0/13")])
        #expect(dump.findings.map(\.line) == [4, 6])
        #expect(dump.unreadable.isEmpty)
    }

    /// The API server's refusal names one family's range: it agrees with a dual-stack flag that
    /// has it, and two refusals (one per family) make one range.
    @Test func refusalsNameOneFamily() {
        let refusal = "provided IP is not in the valid range. The range of valid IPs is "
        let withFlag = Self.scan("\"--service-cluster-ip-range=10.96.0.0/12,fd00::/108\",\n\(refusal)10.96.0.0/12\n\(refusal)fd00::/108")
        #expect(withFlag.statements.map(\.prefixes) == [Self.prefixes("10.96.0.0/12,fd00::/108")])
        #expect(withFlag.statements[0].findings.map(\.line) == [1, 2, 3])
        let both = Self.scan("\(refusal)fd00::/108\n\(refusal)10.96.0.0/12")
        #expect(both.statements.map(\.prefixes) == [Self.prefixes("10.96.0.0/12,fd00::/108")])
        // Two refusals of one family that differ do disagree.
        #expect(Self.scan("\(refusal)10.96.0.0/12\n\(refusal)10.100.0.0/16").statements.count == 2)
        // A refusal outside the flag's range disagrees with it.
        #expect(Self.scan("\"--service-cluster-ip-range=10.96.0.0/12\",\n\(refusal)10.100.0.0/16").statements.count == 2)
    }

    /// OpenShift's operator configs: the controller manager's list, the API server's subnet, the
    /// network config's list (flow style, JSON), each read as a statement of the range; a key that
    /// merely contains one of these names is not.
    @Test func openShiftsKeys() {
        let yaml = """
            observedConfig:
              extendedArguments:
                service-cluster-ip-range:
                - 172.30.0.0/16
            servicesSubnet: 172.30.0.0/16
            spec:
              serviceNetwork: [172.30.0.0/16, fd02::/112]
            """
        let found = Self.scan(yaml)
        #expect(found.findings.map(\.line) == [4, 5, 7])
        #expect(found.findings.map(\.place) == ["line 3, OpenShift's `service-cluster-ip-range:`", "line 5, OpenShift's `servicesSubnet:`", "line 7, OpenShift's `serviceNetwork:`"])
        #expect(found.findings.last?.prefixes == Self.prefixes("172.30.0.0/16,fd02::/112"))
        #expect(Self.scan("  \"serviceNetwork\": [\"172.30.0.0/16\"],").findings.first?.prefixes == Self.prefixes("172.30.0.0/16"))
        #expect(Self.scan("  myservicesSubnet: 10.0.0.0/8\n  note: servicesSubnet: 10.0.0.0/8").findings.isEmpty)
    }

    /// A refusal that names no range, and a control plane's log without its flags, are said as
    /// what they are (the fallback's advice depends on it).
    @Test func whatAnInputWithoutTheRangeWas() {
        #expect(Self.scan("The Service \"x\" is invalid: spec.clusterIPs: Invalid value: []string{\"0.0.0.0\"}: failed to allocate IP 0.0.0.0: the provided network does not match the current range").refusalWithoutRange?.eks == true)
        #expect(Self.scan("The Service \"kube-dns\" is invalid.\nspec.clusterIP: Invalid value: \"10.32.0.10\": provided IP is not in the valid range").refusalWithoutRange?.line == 2)
        #expect(Self.scan("provided IP is not in the valid range. The range of valid IPs is 10.0.0.0/24").refusalWithoutRange == nil)
        let log = Self.scan("==== START logs for container kube-apiserver of pod kube-system/kube-apiserver-m ====\nI0308 server.go:146] Version: v1.13.3\n==== END logs for container kube-apiserver of pod kube-system/kube-apiserver-m ====")
        #expect(log.controlPlaneLog == "container kube-apiserver of pod kube-system/kube-apiserver-m")
        #expect(Self.scan("==== START logs for container coredns of pod kube-system/coredns-1 ====").controlPlaneLog == nil)
    }

    @Test func theKubernetesServiceGivesAHintPastItsNamedPorts() {
        let dump = Self.scan("""
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": { "provider": "kubernetes" }
            },
            "spec": {
                "ports": [ { "name": "https", "port": 443 } ],
            "ports": [
                {
                    "name": "https",
                    "port": 443
                }
            ],
            "clusterIP": "10.100.0.1",
            """)
        #expect(dump.kubernetesServiceAddress == IPAddress("10.100.0.1"))
        #expect(dump.findings.isEmpty)
        // Another namespace's `kubernetes` is not the one.
        #expect(Self.scan("\"name\": \"kubernetes\",\n\"namespace\": \"team-a\",\n\"clusterIP\": \"10.1.2.3\",").kubernetesServiceAddress == nil)
    }

    // MARK: seeded property: every planted statement is found, at its line, and nothing else

    /// One statement of the range in one of the shapes the dump has, as lines.
    /// Shape 6, the API server's refusal, names one family's range only (`refusal`).
    static func shape(_ value: String, refusal: Bool, _ random: inout SeededRandom) -> [String] {
        switch refusal ? 6 : Int.random(in: 0..<6, using: &random) {
        case 0: ["        \"--service-cluster-ip-range=\(value)\","]
        case 1: ["        \"--service-cluster-ip-range\",", "        \"\(value)\","]
        case 2: [#"        "exec /usr/local/bin/kube-apiserver --v=2 --service-cluster-ip-range=\"\#(value)\" --secure-port=443 > /tmp/pipe 2>&1""#]
        case 3: ["        \"/bin/sh -c 'kube-controller-manager --service-cluster-ip-range='\(value)'; true'\""]
        case 4: ["    run kube-apiserver --service-cluster-ip-range \(value) --v=1"]
        case 5: ["I1126 09:14:02.551210       1 flags.go:64] FLAG: --service-cluster-ip-range=\"\(value)\""]
        default: ["Error from server (Invalid): The Service \"probe\" is invalid: spec.clusterIPs: Invalid value: [\"1.1.1.1\"]: failed to allocate IP 1.1.1.1: provided IP is not in the valid range. The range of valid IPs is \(value)"]
        }
    }

    static func randomPrefix(_ family: Family, _ random: inout SeededRandom) -> Prefix {
        switch family {
        case .ipv4:
            try! Prefix.parseMasking("\(Int.random(in: 1...223, using: &random)).\(Int.random(in: 0...255, using: &random)).\(Int.random(in: 0...255, using: &random)).0/\(Int.random(in: 8...28, using: &random))")
        case .ipv6:
            try! Prefix.parseMasking("fd\(String(Int.random(in: 0...255, using: &random), radix: 16)):\(String(Int.random(in: 0...0xffff, using: &random), radix: 16))::/\(Int.random(in: 48...120, using: &random))")
        }
    }

    static let noise = [
        "{", "}", "    \"kind\": \"PodList\",", "        \"namespace\": \"kube-system\",",
        "        \"--cluster-cidr=10.244.0.0/16\",", "        \"--service-node-port-range=30000-32767\",",
        "I1126 09:14:02.551217       1 flags.go:64] FLAG: --service-account-issuer=\"https://kubernetes.default.svc\"",
        "", "    \"clusterIP\": \"10.96.0.10\",", "        \"--service-cluster-ip-range-name=x\",",
    ]

    /// Places that mention a range but are not the control plane saying it: a comment, another
    /// container's log, another container's args (then the next pod), prose.
    static let decoys = [
        ["    # --service-cluster-ip-range=10.0.0.0/24 is only an example"],
        ["==== START logs for container app of pod default/app-1 ====",
         "I1126 09:14:02.551210       1 flags.go:64] FLAG: --service-cluster-ip-range=\"10.0.0.0/24\"",
         "==== END logs for container app of pod default/app-1 ===="],
        ["        \"name\": \"router-x1\",", "        \"namespace\": \"kube-system\",", "        \"name\": \"kube-router\",",
         "        \"--service-cluster-ip-range=10.0.0.0/24\",", "        \"name\": \"next\",", "        \"namespace\": \"default\","],
        ["W1127 09:14:02.551210       1 main.go:93] ignoring --service-cluster-ip-range=10.0.0.0/24 given to the router"],
    ]

    @Test func plantedStatementsAreFoundExactly() {
        var random = SeededRandom.forTest(#function)
        for round in 0..<150 {
            var lines: [String] = []
            var planted: [(line: Int, prefixes: [Prefix], refusal: Bool)] = []
            for _ in 0..<Int.random(in: 0...40, using: &random) {
                if Int.random(in: 0..<5, using: &random) == 0 {
                    var prefixes = [Self.randomPrefix(.ipv4, &random)]
                    switch Int.random(in: 0..<3, using: &random) {
                    case 0: prefixes.append(Self.randomPrefix(.ipv6, &random))
                    case 1: prefixes = [Self.randomPrefix(.ipv6, &random)]
                    default: break
                    }
                    let refusal = prefixes.count == 1 && Int.random(in: 0..<7, using: &random) == 0
                    let statement = Self.shape(prefixes.map(\.description).joined(separator: ","), refusal: refusal, &random)
                    planted.append((lines.count + statement.count, prefixes, refusal))
                    lines += statement
                } else if Int.random(in: 0..<6, using: &random) == 0 {
                    lines += Self.decoys.randomElement(using: &random)!
                } else {
                    lines.append(Self.noise.randomElement(using: &random)!)
                }
            }
            let ending = Bool.random(using: &random) ? "\r\n" : "\n"
            var dump = ClusterDump()
            for line in lines { dump.scan(ArraySlice((line + ending).utf8.dropLast(ending.utf8.count))) }
            dump.finish(lastLineEnded: true)
            // Through the CRLF path too: a trailing CR is part of the line until trimmed.
            var crlf = ClusterDump()
            for line in lines { crlf.scan(ArraySlice((line + (ending == "\r\n" ? "\r" : "")).utf8)) }
            crlf.finish(lastLineEnded: true)
            let context = "seed \(SeededRandom.seed) round \(round):\n\(lines.joined(separator: "\n"))"
            #expect(dump.findings.map(\.line) == planted.map(\.line), "\(context)")
            #expect(dump.findings.map(\.prefixes) == planted.map(\.prefixes), "\(context)")
            #expect(crlf.findings.map(\.prefixes) == planted.map(\.prefixes), "\(context)")
            #expect(dump.unreadable.isEmpty, "\(context)")
            // Every flag's range is a statement of its own; every refusal sits in a statement that
            // has its prefix; every finding is in exactly one statement.
            let statements = dump.statements
            let flags = Set(planted.filter { !$0.refusal }.map { $0.prefixes.sorted() })
            #expect(flags.isSubset(of: Set(statements.map { $0.prefixes.sorted() })), "\(context)")
            #expect(statements.filter { $0.findings.contains { !$0.oneFamily } }.count == flags.count, "\(context)")
            for statement in statements {
                #expect(statement.findings.allSatisfy { Set($0.prefixes).isSubset(of: Set(statement.prefixes)) }, "\(context)")
            }
            #expect(statements.flatMap(\.findings).map(\.line).sorted() == planted.map(\.line), "\(context)")
        }
    }

    // MARK: reading a large dump in chunks

    @Test func linesAcrossReadChunksAreWholeAndLineEndsAreTrimmed() throws {
        var random = SeededRandom.forTest(#function)
        var lines: [String] = []
        var size = 0
        // Past three 64 KiB reads, with lines of every length up to a kops command's.
        while size < 200_000 {
            let line = String(repeating: "x", count: Int.random(in: 0...3000, using: &random))
            lines.append(line)
            size += line.count + 2
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("meshcap-dump-\(UUID())").path
        defer { unlink(path) }
        let bytes = [0xef, 0xbb, 0xbf] + Array(lines.joined(separator: "\r\n").utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        var read: [String] = []
        try InputFile.streamLines(path, role: "cluster dump", standardInput: true, limit: 1 << 20) { read.append(String(decoding: $0, as: UTF8.self)) }
        #expect(read == lines, "seed \(SeededRandom.seed)")
        do {
            try InputFile.streamLines(path, role: "cluster dump", standardInput: true, limit: 100_000) { _ in }
            Issue.record("a dump over the limit was read")
        } catch {
            #expect(error.message == "the cluster dump \(path) is \(bytes.count) bytes; meshcap reads at most 100000 bytes")
        }
        // A line longer than the line limit is refused, naming it, rather than held.
        let longest = lines.map(\.utf8.count).max()!
        let at = lines.firstIndex { $0.utf8.count > 2000 }!
        do {
            try InputFile.streamLines(path, role: "cluster dump", standardInput: true, limit: 1 << 20, lineLimit: 2000) { _ in }
            Issue.record("a line of \(longest) bytes passed a 2000-byte line limit")
        } catch {
            #expect(error.message == "the cluster dump \(path): line \(at + 1) is longer than 2000 bytes; meshcap reads lines up to that", "seed \(SeededRandom.seed)")
        }
    }

    /// A dump saved by PowerShell's `>` is UTF-16: said so, with the conversion.
    @Test func aUTF16DumpIsNamedAsSuch() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("meshcap-utf16-\(UUID())").path
        defer { unlink(path) }
        try Data([0xff, 0xfe] + Array("{\n".utf16).flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }).write(to: URL(fileURLWithPath: path))
        do {
            try InputFile.streamLines(path, role: "cluster dump", standardInput: true, limit: 1 << 20) { _ in }
            Issue.record("a UTF-16 dump was read")
        } catch {
            #expect(error.message == "the cluster dump \(path) has a NUL byte at byte 4: it is UTF-16, not UTF-8: convert it first (iconv -f UTF-16 -t UTF-8)")
        }
    }

    // MARK: the env file edit

    @Test func editingKeepsEveryOtherLineAndSetsEveryOccurrence() {
        let input = InputFile.lines(of: "# written by istioctl\r\nCA_ADDR='istiod.istio-system.svc:15012'\r\n\r\nexport  ISTIO_SERVICE_CIDR='*'\r\nISTIO_INBOUND_PORTS='*'\r\n  ISTIO_SERVICE_CIDR=10.0.0.0/8 # old\r\nISTIO_SERVICE_CIDR_X=1\r\n", name: "cluster.env")
        let edit = EnvFileEdit(setting: "ISTIO_SERVICE_CIDR", to: "10.96.0.0/12,fd00::/108", in: input)
        #expect(edit.text == "# written by istioctl\r\nCA_ADDR='istiod.istio-system.svc:15012'\r\n\r\nexport  ISTIO_SERVICE_CIDR='10.96.0.0/12,fd00::/108'\r\nISTIO_INBOUND_PORTS='*'\r\n  ISTIO_SERVICE_CIDR='10.96.0.0/12,fd00::/108'\r\nISTIO_SERVICE_CIDR_X=1\r\n")
        #expect(edit.lines == [4, 6])
        #expect(!edit.appended)
        let appended = EnvFileEdit(setting: "ISTIO_SERVICE_CIDR", to: "10.96.0.0/12", in: InputFile.lines(of: "A=1\n", name: "f"))
        #expect(appended.text == "A=1\nISTIO_SERVICE_CIDR='10.96.0.0/12'\n")
        #expect(appended.lines == [2] && appended.appended)
        #expect(EnvFileEdit(setting: "ISTIO_SERVICE_CIDR", to: "10.96.0.0/12", in: nil).text == "ISTIO_SERVICE_CIDR='10.96.0.0/12'\n")
        #expect(EnvFileEdit(setting: "ISTIO_SERVICE_CIDR", to: "10.96.0.0/12", in: InputFile.lines(of: "", name: "f")).text == "ISTIO_SERVICE_CIDR='10.96.0.0/12'\n")
    }

    /// A file edited on Windows and on Linux mixes CRLF and LF: each line keeps its own end (a
    /// CRLF given to an LF line makes a shell read `10.96.0.0/12\r`), and a file that ends
    /// without a line end still does.
    @Test func everyLineKeepsItsOwnEndAndTheLastItsAbsence() {
        let mixed = InputFile.lines(of: "# from a laptop\r\nCA_ADDR='x'\nISTIO_SERVICE_CIDR='*'\r\nOLD=1\rISTIO_INBOUND_PORTS='*'", name: "f")
        #expect(EnvFileEdit(setting: "ISTIO_SERVICE_CIDR", to: "10.96.0.0/12", in: mixed).text
                == "# from a laptop\r\nCA_ADDR='x'\nISTIO_SERVICE_CIDR='10.96.0.0/12'\r\nOLD=1\rISTIO_INBOUND_PORTS='*'")
        // Appended: the end most lines have (CRLF twice, LF once), the last line's added before it.
        let appended = EnvFileEdit(setting: "ISTIO_SERVICE_CIDR", to: "10.96.0.0/12", in: InputFile.lines(of: "A=1\r\nB=2\nC=3\r\nD=4", name: "f"))
        #expect(appended.text == "A=1\r\nB=2\nC=3\r\nD=4\r\nISTIO_SERVICE_CIDR='10.96.0.0/12'")
        #expect(appended.lines == [5] && appended.appended)
        // As common: the one used last.
        #expect(EnvFileEdit(setting: "K", to: "v", in: InputFile.lines(of: "A=1\r\nB=2\n", name: "f")).text == "A=1\r\nB=2\nK='v'\n")
        #expect(EnvFileEdit(setting: "K", to: "v", in: InputFile.lines(of: "A=1\nB=2\r", name: "f")).text == "A=1\nB=2\rK='v'\r")
        #expect(EnvFileEdit(setting: "K", to: "v", in: InputFile.lines(of: "A=1", name: "f")).text == "A=1\nK='v'")
    }

    /// Read back as meshcap reads env files, the edited file says what it said, and the new range.
    /// A quoted value over several lines is one setting to the editor as to the reader: the
    /// key's own is replaced whole, and a line inside another key's value is left alone.
    @Test func aValueOverLinesIsEditedWhole() throws {
        func edit(_ text: String) throws -> (text: String, settings: [String: String]) {
            let input = try InputFile.split(Array(text.utf8), name: "cluster.env", strictText: true)
            let edit = EnvFileEdit(setting: "ISTIO_SERVICE_CIDR", to: "10.96.0.0/12", in: input)
            let reread = try InputFile.split(Array(edit.text.utf8), name: "cluster.env", strictText: true)
            return (edit.text, Dictionary(try EnvFile.parse(reread).get().map { ($0.key, $0.value) }) { _, last in last })
        }
        let spanning = try edit("A=1\nISTIO_SERVICE_CIDR=\"10.0.0.0/8,\n172.16.0.0/12\"\nB=2\n")
        #expect(spanning.text == "A=1\nISTIO_SERVICE_CIDR='10.96.0.0/12'\nB=2\n")
        let inside = try edit("PROXY_CONFIG=\"\nISTIO_SERVICE_CIDR=not-a-setting\n\"\nB=2\n")
        #expect(inside.text == "PROXY_CONFIG=\"\nISTIO_SERVICE_CIDR=not-a-setting\n\"\nB=2\nISTIO_SERVICE_CIDR='10.96.0.0/12'\n")
        #expect(inside.settings["PROXY_CONFIG"] == "\nISTIO_SERVICE_CIDR=not-a-setting\n" && inside.settings["B"] == "2")
    }

    /// OpenShift's keys in `oc get ... -o json`'s pretty print: the array's item on the next line.
    @Test func openShiftsKeysInPrettyJSON() {
        let found = Self.scan("    \"serviceNetwork\": [\n        \"172.30.0.0/16\"\n    ],")
        #expect(found.findings.map(\.prefixes) == [Self.prefixes("172.30.0.0/16")] && found.unreadable.isEmpty)
    }

    @Test func anEditedFileReadsBackWithOnlyTheKeyChanged() throws {
        var random = SeededRandom.forTest(#function)
        let keys = ["CA_ADDR", "ISTIO_INBOUND_PORTS", "ISTIO_LOCAL_EXCLUDE_PORTS", "POD_NAMESPACE", "ISTIO_SERVICE_CIDR"]
        let values = ["'*'", "22,15090", "'a b'", "\"x\"", "''", "'it'\"'\"'s'"]
        for round in 0..<150 {
            var lines: [String] = []
            for _ in 0..<Int.random(in: 0...12, using: &random) {
                switch Int.random(in: 0..<4, using: &random) {
                case 0: lines.append("# comment \(round)")
                case 1: lines.append("")
                default:
                    let export = Bool.random(using: &random) ? "export " : ""
                    lines.append("\(export)\(keys.randomElement(using: &random)!)=\(values.randomElement(using: &random)!)")
                }
            }
            // Each line its own end; sometimes the last line has none.
            var ends = lines.map { _ in ["\n", "\r\n", "\r"].randomElement(using: &random)! }
            if !ends.isEmpty && Bool.random(using: &random) { ends[ends.count - 1] = "" }
            let bom = Bool.random(using: &random) ? "\u{FEFF}" : ""
            let original = bom + zip(lines, ends).map { $0 + $1 }.joined()
            let input = try InputFile.split(Array(original.utf8), name: "cluster.env", strictText: true)
            let edit = EnvFileEdit(setting: "ISTIO_SERVICE_CIDR", to: "10.96.0.0/12", in: input)
            let context = "seed \(SeededRandom.seed) round \(round):\n\(original)"
            let before = try EnvFile.parse(input).get()
            let reread = try InputFile.split(Array(edit.text.utf8), name: "cluster.env", strictText: true)
            let after = try EnvFile.parse(reread).get()
            #expect(reread.hadByteOrderMark == input.hadByteOrderMark, "\(context)")
            #expect(reread.lines.count == input.lines.count + (edit.appended ? 1 : 0), "\(context)")
            // Every line keeps its end; an appended line has one the file uses (LF if it uses
            // none), and the end of the file stays as it was.
            let kept = edit.appended && input.lineEnds.last == .some(nil) ? input.lineEnds.count - 1 : input.lineEnds.count
            #expect(Array(reread.lineEnds.prefix(kept)) == Array(input.lineEnds.prefix(kept)), "\(context)")
            let added = reread.lineEnds.dropFirst(kept).compactMap { $0 }
            #expect(added.allSatisfy { input.lineEndings.isEmpty ? $0 == .lf : input.lineEndings.contains($0) }, "\(context)")
            #expect(reread.endsWithLineEnd == input.endsWithLineEnd, "\(context)")
            #expect(before.filter { $0.key != "ISTIO_SERVICE_CIDR" }.map { "\($0.key)=\($0.value)" }
                    == after.filter { $0.key != "ISTIO_SERVICE_CIDR" }.map { "\($0.key)=\($0.value)" }, "\(context)")
            let set = after.filter { $0.key == "ISTIO_SERVICE_CIDR" }
            #expect(!set.isEmpty && set.allSatisfy { $0.value == "10.96.0.0/12" }, "\(context)")
        }
    }
}
