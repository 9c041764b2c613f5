import Foundation
import Testing
import TestSupport

/// Every input in `../shared/realworld` (dumps, cluster dumps and cluster.env files that other
/// people posted), run through meshcap as a user would, against the answer a careful reader gets
/// by eye (its INDEX.md; written here in our own words). An input meshcap still reads wrong is a
/// known issue, named with why: the test records it and fails the day it is fixed, so the
/// marker goes with the fix.
@Suite(.needsRealworld) struct RealWorldTests {
    static let root = Prerequisites.realworld

    /// What `meshcap verify --from` must say of a dump.
    struct DumpAnswer: Sendable, CustomStringConvertible {
        let file: String
        /// Exit 2 with this in the message (a refusal that names the line and the reason).
        var refusal: String?
        /// (direction, seen, sent to the proxy).
        var totals: [String: (UInt64, UInt64)] = [:]
        /// "direction subject action" → packets, for every row that counted a packet.
        var counted: [String: UInt64] = [:]
        /// Problem kinds verify must report (none when empty).
        var problems: [String] = []
        /// Rows that must be there, counted or not, and rows that must not.
        var present: [String] = []
        var absent: [String] = []
        /// The rules have no counters: every row's and total's numbers are null ("not counted"), not 0.
        var notCounted = false
        /// Why meshcap still answers it wrong (issue 22), if it does.
        var knownIssue: String?
        var description: String { file }
    }

    static let dumps: [DumpAnswer] = [
        DumpAnswer(file: "iptables/arthurchiao-nvL-1.1.txt", totals: ["inbound": (2086, 362), "outbound": (464, 33)],
                   counted: ["inbound port 8080 capture": 362, "outbound other destinations capture": 33,
                             "outbound uid 1337 bypass": 420, "outbound to 127.0.0.1/32 loopback": 11]),
        DumpAnswer(file: "iptables/crictl-notes-nvL-numproto.txt", totals: ["inbound": (123, 0), "outbound": (22, 0)],
                   counted: ["inbound port 15021 exclude": 123, "outbound uid 1337 bypass": 22]),
        DumpAnswer(file: "iptables/ssup2-blog-nvL.txt", totals: ["inbound": (11729, 0), "outbound": (54, 3)],
                   counted: ["inbound port 15021 exclude": 11727, "inbound port 15020 exclude": 2,
                             "outbound uid 1337 bypass": 51, "outbound other destinations capture": 3]),
        DumpAnswer(file: "iptables/ssup2-dns-proxy-nvL.txt", totals: ["inbound": (53, 0), "outbound": (22, 0)],
                   counted: ["inbound port 15021 exclude": 53, "outbound uid 1337 bypass": 22],
                   present: ["outbound dns 10.96.0.10 tcp agent", "outbound dns 10.96.0.10 udp agent"], absent: ["outbound port 53/udp exclude"]),
        DumpAnswer(file: "iptables/k3d-ambient-blog-sidecar-nvL-numproto.txt", totals: ["inbound": (908, 0), "outbound": (21, 3)],
                   counted: ["inbound port 15021 exclude": 908, "outbound port 15020/tcp exclude": 2, "outbound uid 1337 to itself over lo capture": 1,
                             "outbound uid 1337 bypass": 15, "outbound other destinations capture": 3]),
        DumpAnswer(file: "iptables/istio-vm-study-partial-nvL-OUTPUT-only.txt", totals: ["outbound": (6, 0)],
                   counted: ["inbound from 127.0.0.6/32 passthrough": 1, "outbound uid 1337 bypass": 5],
                   present: ["outbound over lo loopback"]),
        DumpAnswer(file: "iptables/zhaohuabing-istio-0.2-nvL-comments.txt", totals: ["inbound": (16, 16), "outbound": (1969, 0)],
                   counted: ["outbound uid 1337 bypass": 1969]),
        DumpAnswer(file: "iptables/istio-36629-S-v-partial.txt", totals: ["inbound": (2384, 0), "outbound": (988, 0)],
                   counted: ["inbound port 22 exclude": 1], present: ["inbound port 15008 tunnel", "inbound port 15090 exclude"]),
        DumpAnswer(file: "iptables/istio-init-log-iptables-save-nocounters.txt", refusal: "has no counters: save with iptables-save -c"),
        DumpAnswer(file: "iptables/myf5-L-v-names.txt", refusal: "list with -n"),
        DumpAnswer(file: "iptables/jimmysong-handbook-annotated-L-v.txt", refusal: "list with -n"),
        DumpAnswer(file: "iptables/istio-27728-vm-docker-L-v-partial.txt", refusal: "list with -n"),
        DumpAnswer(file: "iptables/istio-cni-pr282-save-c-partial.txt", refusal: "it is cut short"),
        DumpAnswer(file: "iptables/istio-42822-vm-docker-save-ellipsis.txt", refusal: ":1: `...` does not begin a dump meshcap reads"),
        DumpAnswer(file: "iptables/istio-15519-duplicated-rules-partial.txt", refusal: "is outside a table"),
        DumpAnswer(file: "nft/istio-cni-pr132-nft-list-table-partial.txt", refusal: "it is cut short"),
        DumpAnswer(file: "nft/sail-operator-docs-curl.txt", present: ["inbound other ports capture", "outbound other destinations capture",
                                                                      "inbound port 15021 exclude", "outbound uid 1337 bypass", "outbound gid 1337 bypass"],
                   notCounted: true),
    ]

    @Test(arguments: dumps) func aDump(_ answer: DumpAnswer) throws {
        let path = Self.root.appendingPathComponent(answer.file).path
        let result = try run(meshcap, ["verify", "--from", path, "--json"])
        let check = {
            if let refusal = answer.refusal {
                #expect(result.status == 2 && result.stderr.contains(refusal), "\(answer.file): \(result.stderr)")
                // The format it saw (where a line told it) and the command that saves a whole dump.
                #expect(result.stderr.contains("; on the host, save one whole with: "), "\(answer.file): \(result.stderr)")
                #expect(refusal.contains("does not begin a dump") || result.stderr.contains(" output; on the host"), "\(answer.file): \(result.stderr)")
                return
            }
            #expect(result.status == (answer.problems.isEmpty ? 0 : 1), "\(answer.file): exit \(result.status): \(result.stderr)")
            let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
            let problems = (json["problems"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
            #expect(problems == answer.problems, "\(answer.file): problems \(problems)")
            var rows: [String: UInt64] = [:]
            if answer.notCounted {
                let numbers = (json["rows"] as? [[String: Any]] ?? []).map { $0["packets"] } + (json["totals"] as? [[String: Any]] ?? []).map { $0["seen"] }
                #expect(!numbers.isEmpty && numbers.allSatisfy { $0 is NSNull }, "\(answer.file): counts given where the rules have no counter")
            }
            for row in json["rows"] as? [[String: Any]] ?? [] {
                let key = "\(row["direction"] as? String ?? "") \(row["subject"] as? String ?? "") \(row["action"] as? String ?? "")"
                rows[key, default: 0] += (row["packets"] as? NSNumber)?.uint64Value ?? 0
            }
            #expect(rows.filter { $0.value > 0 } == answer.counted, "\(answer.file): rows that counted")
            for row in answer.present { #expect(rows[row] != nil, "\(answer.file): no row \(row)") }
            for row in answer.absent { #expect(rows[row] == nil, "\(answer.file): a row \(row)") }
            var totals: [String: (UInt64, UInt64)] = [:]
            for total in json["totals"] as? [[String: Any]] ?? [] {
                totals[total["direction"] as? String ?? ""] = ((total["seen"] as? NSNumber)?.uint64Value ?? 0, (total["captured"] as? NSNumber)?.uint64Value ?? 0)
            }
            for (direction, (seen, captured)) in answer.totals {
                #expect(totals[direction]?.0 == seen && totals[direction]?.1 == captured, "\(answer.file): \(direction) totals \(String(describing: totals[direction]))")
            }
        }
        if let reason = answer.knownIssue { withKnownIssue(Comment(rawValue: reason)) { try check() } } else { try check() }
    }

    /// What `meshcap cidr --from-cluster-dump` must say of a cluster dump: the range (exit 0), or
    /// exit 1 with these in its message and none of `not`.
    struct CidrAnswer: Sendable, CustomStringConvertible {
        let file: String
        var range: String?
        var says: [String] = []
        var not: [String] = []
        var knownIssue: String?
        var description: String { file }
    }

    /// What the fallback must not do for an input that is a refusal or a log: blame a managed
    /// control plane, or recommend the very probe whose refusal the user gave it.
    static let probe = "kubectl create service clusterip meshcap-probe"

    static let clusterDumps: [CidrAnswer] = [
        CidrAnswer(file: "cluster-dump/minikube-2019-kube-system-pods.json", range: "10.96.0.0/12"),
        CidrAnswer(file: "cluster-dump/minikube-2019-dump-dir-concatenated.txt", range: "10.96.0.0/12"),
        CidrAnswer(file: "cluster-dump/kubeadm-ha-2017-kube-system-pods.json", range: "10.96.0.0/12"),
        CidrAnswer(file: "cluster-dump/kind-kubeadm-manifest-custom-binary.yaml", range: "10.96.0.0/16"),
        CidrAnswer(file: "cluster-dump/bootkube-selfhosted-hyperkube-daemonset.yaml", range: "10.3.0.0/24"),
        CidrAnswer(file: "cluster-dump/kops-1.25-go-runner-manifest.yaml", range: "100.64.0.0/13"),
        CidrAnswer(file: "cluster-dump/kops-1.12-ps-mkfifo-wrapper.txt", range: "100.64.0.0/13"),
        CidrAnswer(file: "cluster-dump/kops-cmdline-wrapped-notes.txt", range: "100.64.0.0/13"),
        CidrAnswer(file: "cluster-dump/k3s-v0.2.0-raspberrypi-server-log.txt", range: "10.43.0.0/16"),
        CidrAnswer(file: "cluster-dump/rke2-v1.33-describe-pod-apiserver-annotated.txt", range: "10.43.0.0/16"),
        CidrAnswer(file: "cluster-dump/magnum-jetstream-issue91-clusterip-refusal.txt", range: "172.24.0.0/13"),
        CidrAnswer(file: "cluster-dump/magnum-jetstream-issue91-dump-grep.txt", range: "172.24.0.0/13"),
        CidrAnswer(file: "cluster-dump/minikube-issue2240-old-refusal-title.txt", range: "10.0.0.0/24"),
        CidrAnswer(file: "cluster-dump/support-bundle-kit-pr46-logfmt-refusal.txt", range: "10.53.0.0/16"),
        CidrAnswer(file: "cluster-dump/kvisor-pr560-refusal-with-range.txt", range: "10.30.0.0/24"),
        CidrAnswer(file: "cluster-dump/aks-2020-kube-system-pods.json", says: ["az aks show"]),
        CidrAnswer(file: "cluster-dump/openshift-4.1-must-gather-operator-configs.yaml", range: "172.30.0.0/16"),
        CidrAnswer(file: "cluster-dump/minikube-2019-apiserver-logs.txt", says: ["log of container kube-apiserver", "-v=1"], not: ["A managed control plane"]),
        CidrAnswer(file: "cluster-dump/kvisor-pr560-eks-refusal-no-range.txt", says: ["names no range", "aws eks describe-cluster"], not: [probe]),
        CidrAnswer(file: "cluster-dump/k8s-issue37829-refusal-no-range.txt", says: ["names no range"], not: [probe]),
        CidrAnswer(file: "cluster-dump/k8s-hard-way-issue26-refusal-no-range.txt", says: ["names no range"], not: [probe]),
    ]

    @Test(arguments: clusterDumps) func aClusterDump(_ answer: CidrAnswer) throws {
        let result = try run(meshcap, ["cidr", "--from-cluster-dump", Self.root.appendingPathComponent(answer.file).path])
        let check = {
            if let range = answer.range {
                #expect(result.status == 0 && result.stdout == range + "\n", "\(answer.file): exit \(result.status) \(result.stdout)\(result.stderr)")
            } else {
                #expect(result.status == 1 && result.stdout.isEmpty, "\(answer.file): exit \(result.status)")
            }
            for text in answer.says { #expect(result.stderr.contains(text), "\(answer.file): does not say \(text): \(result.stderr)") }
            for text in answer.not { #expect(!result.stderr.contains(text), "\(answer.file): says \(text)") }
        }
        if let reason = answer.knownIssue { withKnownIssue(Comment(rawValue: reason)) { check() } } else { check() }
    }

    /// What `meshcap compile --config` must make of a cluster.env: rules that must be there, and
    /// rules that must not (no accounts, and a resolver with one server: the answers are the
    /// file's own).
    struct EnvAnswer: Sendable, CustomStringConvertible {
        let file: String
        var rules: [String] = []
        var not: [String] = []
        var knownIssue: String?
        var description: String { file }
    }

    static let clusterEnvs: [EnvAnswer] = [
        EnvAnswer(file: "cluster-env/istio-shipped-sidecar.env",
                  not: ["-A ISTIO_OUTPUT -j ISTIO_REDIRECT", "-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT", "--dport 8080 -j ISTIO_IN_REDIRECT"]),
        EnvAnswer(file: "cluster-env/istio-io-1.1-mesh-expansion-cluster.env",
                  rules: ["-A ISTIO_OUTPUT -d 10.55.240.0/20 -j ISTIO_REDIRECT", "-A ISTIO_INBOUND -p tcp -m tcp --dport 3306 -j ISTIO_IN_REDIRECT",
                          "-A ISTIO_INBOUND -p tcp -m tcp --dport 8080 -j ISTIO_IN_REDIRECT"]),
        EnvAnswer(file: "cluster-env/setupMeshEx-generated-cluster.env",
                  rules: ["-A ISTIO_OUTPUT -d 10.35.240.0/20 -j ISTIO_REDIRECT"], not: ["-j ISTIO_IN_REDIRECT\n-A ISTIO_INBOUND -p tcp -m tcp --dport"]),
        EnvAnswer(file: "cluster-env/istioctl-generated-demo-vm-cluster.env",
                  rules: ["-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT", "-A ISTIO_OUTPUT -j ISTIO_REDIRECT", "-j REDIRECT --to-ports 15053",
                          "-A ISTIO_INBOUND -p tcp -m tcp --dport 15090 -j RETURN", "-A ISTIO_INBOUND -p tcp -m tcp --dport 15021 -j RETURN"]),
        EnvAnswer(file: "cluster-env/istioctl-1.8-pegasus-pay-cluster.env",
                  rules: ["-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT", "-A ISTIO_OUTPUT -j ISTIO_REDIRECT", "-j REDIRECT --to-ports 15053"]),
        EnvAnswer(file: "cluster-env/istioinaction-forum-vm-cluster.env",
                  rules: ["-A ISTIO_OUTPUT -d 10.96.0.0/12 -j ISTIO_REDIRECT", "--dport 8080 -j ISTIO_IN_REDIRECT",
                          "--dport 8081 -j ISTIO_IN_REDIRECT", "--dport 9090 -j ISTIO_IN_REDIRECT"]),
        EnvAnswer(file: "cluster-env/dev-vm-multiline-proxy-config-cluster.env",
                  rules: ["-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT", "-A ISTIO_OUTPUT -j ISTIO_REDIRECT", "-j REDIRECT --to-ports 15053", "-i docker0"]),
    ]

    @Test(arguments: clusterEnvs) func aClusterEnv(_ answer: EnvAnswer) throws {
        // A VM's resolver: the DNS capture the files ask for needs a server to capture.
        let work = try temporaryDirectory("realworld-env")
        defer { try? FileManager.default.removeItem(at: work) }
        let resolver = work.appendingPathComponent("resolv.conf")
        try "nameserver 10.96.0.10\n".write(to: resolver, atomically: true, encoding: .utf8)
        let result = try run(meshcap, ["compile", "--config", Self.root.appendingPathComponent(answer.file).path,
                                       "--passwd-file", "/dev/null", "--group-file", "/dev/null", "--resolv-conf", resolver.path])
        let check = {
            #expect(result.status == 0, "\(answer.file): exit \(result.status): \(result.stderr)")
            for rule in answer.rules { #expect(result.stdout.contains(rule), "\(answer.file): no \(rule)") }
            for rule in answer.not { #expect(!result.stdout.contains(rule), "\(answer.file): \(rule)") }
        }
        if let reason = answer.knownIssue { withKnownIssue(Comment(rawValue: reason)) { check() } } else { check() }
    }

    /// Every file in the directory is one of the answers above: a new input is not silently untried.
    @Test func everyFileHasAnAnswer() throws {
        let answered = Set(Self.dumps.map(\.file) + Self.clusterDumps.map(\.file) + Self.clusterEnvs.map(\.file))
        var files: [String] = []
        for directory in ["iptables", "nft", "cluster-dump", "cluster-env"] {
            files += try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent(directory).path).map { "\(directory)/\($0)" }
        }
        #expect(Set(files).subtracting(answered).isEmpty, "no answer for \(Set(files).subtracting(answered).sorted())")
        print("realworld: \(files.count) inputs, \(answered.count) answers, \((Self.dumps.compactMap(\.knownIssue) + Self.clusterDumps.compactMap(\.knownIssue) + Self.clusterEnvs.compactMap(\.knownIssue)).count) still read wrong (known issues, named)")
    }
}
