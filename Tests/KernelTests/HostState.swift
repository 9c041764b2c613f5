import Foundation
import TestSupport
import Testing

/// The three ways meshcap programs a host, as `apply` and `clean` are told to use them.
enum HostKind: String, CaseIterable, Sendable {
    case nft
    case iptablesNft = "iptables-nft"
    case iptablesLegacy = "iptables-legacy"

    var arguments: [String] {
        switch self {
        case .nft: ["--backend", "nft"]
        case .iptablesNft: ["--backend", "iptables", "--iptables-variant", "nft"]
        case .iptablesLegacy: ["--backend", "iptables", "--iptables-variant", "legacy"]
        }
    }
}

/// Everything of a namespace that meshcap or anybody else programs for packet capture: both
/// iptables variants in both families, the nf_tables ruleset, policy rules, routes and lo's
/// addresses. Counters and timestamps are left out; handles are kept where asked.
struct HostState: Equatable, CustomStringConvertible {
    var sections: [String: String]

    private init(sections: [String: String]) {
        self.sections = sections
    }

    /// Reads the state. The legacy tools are only run when the kernel lists legacy tables:
    /// asking them about a table creates it.
    init(_ ns: Namespace, handles: Bool = false) throws {
        var sections: [String: String] = [:]
        for (family, names, prefix) in [("4", "/proc/net/ip_tables_names", "iptables"), ("6", "/proc/net/ip6_tables_names", "ip6tables")] {
            sections["\(prefix)-nft-save"] = try ns.exec("\(prefix)-nft-save")
            let legacy = try ns.exec("cat", names)
            sections["\(prefix)-legacy-save"] = legacy.isEmpty ? "" : try ns.exec("\(prefix)-legacy-save")
            sections["ip -\(family) rule"] = try ns.exec("ip", "-\(family)", "rule")
            sections["ip -\(family) route"] = try ns.exec("ip", "-\(family)", "route", "show", "table", "all")
        }
        // iptables-nft's own tables are in the iptables-nft-save sections, in iptables' words.
        let ruleset = try handles ? ns.exec("nft", "-a", "list", "ruleset") : ns.exec("nft", "list", "ruleset")
        sections["nft list ruleset (other tables)"] = Self.withoutTables(ruleset, ["ip", "ip6"], ["nat", "mangle", "raw", "filter", "security"])
        sections["ip -6 addr lo"] = try ns.exec("ip", "-6", "addr", "show", "dev", "lo")
        self.sections = sections.mapValues(Self.withoutCounters)
    }

    /// The root namespace's rules and routing, which no test may change: meshcap is pointed at a
    /// test's namespace from there (`--netns`), and this is read before and after every run, so
    /// in one shell rather than ten processes. nft's view holds iptables-nft's tables too.
    static func root() throws -> HostState {
        let script = """
            set -e
            echo '== nft list ruleset'; nft -s list ruleset
            for family in 4 6; do
                echo "== ip -$family rule"; ip -$family rule
                echo "== ip -$family route"; ip -$family route show table all
            done
            echo '== iptables-legacy-save'; if grep -q . /proc/net/ip_tables_names; then iptables-legacy-save; fi
            echo '== ip6tables-legacy-save'; if grep -q . /proc/net/ip6_tables_names; then ip6tables-legacy-save; fi
            echo '== ip -6 addr lo'; ip -6 addr show dev lo
            """
        let result = try run("sh", ["-c", script])
        guard result.status == 0 else { throw LoadFailure(description: "reading the root namespace exited \(result.status): \(result.stderr)") }
        var sections: [String: String] = [:], name = ""
        for line in result.stdout.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("== ") {
                name = String(line.dropFirst(3))
                sections[name] = ""
            } else {
                sections[name, default: ""] += line + "\n"
            }
        }
        // A route learnt from a router advertisement counts down its lifetime.
        return HostState(sections: sections.mapValues { withoutCounters($0).replacingOccurrences(of: #" expires \d+sec"#, with: "", options: .regularExpression) })
    }

    static func withoutTables(_ text: String, _ families: [String], _ names: [String]) -> String {
        var lines: [String] = []
        var skipping = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let words = line.split(separator: " ")
            if words.count >= 3, words[0] == "table", families.contains(String(words[1])), names.contains(String(words[2])) { skipping = true }
            if skipping { if line == "}" { skipping = false }; continue }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    static func withoutCounters(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("#") }.map { line in
            var line = String(line)
            // iptables-save: ":CHAIN ACCEPT [p:b]"; nft: "counter packets N bytes M".
            if let open = line.range(of: " ["), line.hasPrefix(":") { line = String(line[..<open.lowerBound]) }
            if let counter = line.range(of: #"counter packets \d+ bytes \d+"#, options: .regularExpression) { line.replaceSubrange(counter, with: "counter") }
            return line
        }.joined(separator: "\n")
    }

    /// Other software's part: meshcap's chains, tagged rules, tables and routing left out.
    var foreign: HostState {
        var copy = self
        copy.sections = sections.mapValues { text in
            var lines: [String] = []
            var skippingTable = false, skippingAddressLine = false
            for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
                if line.hasPrefix("table inet istio-proxy-") { skippingTable = true }
                if skippingTable { if line == "}" { skippingTable = false }; continue }
                if line.hasPrefix(":ISTIO_") || line.hasPrefix("-A ISTIO_") || line.contains("--comment meshcap") || line.contains("proto 109") { continue }
                // ::6 on lo, and the routes the kernel makes for it.
                if skippingAddressLine { skippingAddressLine = false; continue }
                if line.contains("inet6 ::6/128") { skippingAddressLine = true; continue }
                if line.hasPrefix("::6 dev lo ") || line.hasPrefix("local ::6 dev lo ") { continue }
                lines.append(line)
            }
            return Self.withoutEmpty(lines.joined(separator: "\n"))
        }
        return copy
    }

    /// The state without what iptables creates on demand and never removes: tables whose chains
    /// are all empty built-in ones with policy ACCEPT, and nft base chains with no rule and policy
    /// accept. They hold no rule, so they change no packet's fate.
    var withoutEmpty: HostState {
        var copy = self
        copy.sections = sections.mapValues(Self.withoutEmpty)
        return copy
    }

    static func withoutEmpty(_ text: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var out: [String] = []
        var index = 0
        while index < lines.count {
            let line = lines[index]
            if line.hasPrefix("*") {
                // An iptables-save table: dropped when it holds no rule and no regular chain.
                let end = lines[index...].firstIndex(of: "COMMIT") ?? index
                let body = lines[(index + 1)..<end]
                if body.allSatisfy({ $0.hasPrefix(":") && $0.contains(" ACCEPT") }) { index = end + 1; continue }
                out += lines[index...end]
                index = end + 1
                continue
            }
            if line.hasPrefix("\tchain ") {
                // An nft base chain with no rule and policy accept: it lets everything through.
                let end = lines[index...].firstIndex(of: "\t}") ?? index
                let body = lines[(index + 1)..<end]
                if body.allSatisfy({ ($0.contains(" hook ") && $0.contains("policy accept;")) || $0.isEmpty }) {
                    index = end + 1
                    if index < lines.count && lines[index].isEmpty { index += 1 }
                    continue
                }
            }
            out.append(line)
            index += 1
        }
        // nft tables left without chains, and blank lines left behind.
        var text = out.joined(separator: "\n")
        for family in ["ip", "ip6", "inet"] {
            while let range = text.range(of: #"table \#(family) [a-z0-9_-]+ \{\n\}\n?"#, options: .regularExpression) { text.removeSubrange(range) }
        }
        return text.replacingOccurrences(of: "{\n\n", with: "{\n").replacingOccurrences(of: "\n\n}", with: "\n}")
    }

    var description: String {
        sections.sorted { $0.key < $1.key }.map { "== \($0.key)\n\($0.value)" }.joined(separator: "\n")
    }

    /// What differs, section by section, as unified diffs.
    func differences(from other: HostState, label: String) -> String {
        sections.keys.sorted().compactMap { key in
            let mine = sections[key] ?? "", theirs = other.sections[key] ?? ""
            return mine == theirs ? nil : unifiedDiff(expected: theirs, actual: mine, label: "\(label): \(key)")
        }.joined(separator: "\n")
    }
}

/// Rules of other software a VM commonly has, in every place meshcap could touch: Docker's and
/// kube-proxy's in iptables-nft (both families), a foreign nft table with a nat output chain, and
/// a rule in the legacy variant.
enum OtherSoftware {
    static func seed(_ ns: Namespace) throws {
        try ns.exec("iptables-nft-restore", "--noflush", input: """
            *nat
            :DOCKER - [0:0]
            :KUBE-SERVICES - [0:0]
            -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
            -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
            -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
            -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
            -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
            -A DOCKER -i docker0 -j RETURN
            -A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j RETURN
            COMMIT
            *filter
            :DOCKER-USER - [0:0]
            :KUBE-FIREWALL - [0:0]
            -A INPUT -j KUBE-FIREWALL
            -A FORWARD -j DOCKER-USER
            -A DOCKER-USER -j RETURN
            -A KUBE-FIREWALL -m mark --mark 0x8000/0x8000 -j DROP
            COMMIT

            """)
        try ns.exec("ip6tables-nft-restore", "--noflush", input: """
            *nat
            :KUBE-SERVICES - [0:0]
            -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
            -A KUBE-SERVICES -d fd00:10:96::1/128 -p tcp -m tcp --dport 443 -j RETURN
            COMMIT

            """)
        try ns.exec("nft", "-f", "-", input: """
            table inet othermesh {
            \tchain out {
            \t\ttype nat hook output priority -90; policy accept;
            \t\ttcp dport 5000 counter redirect to :5001
            \t}
            }

            """)
        try ns.exec("iptables-legacy", "-t", "nat", "-A", "OUTPUT", "-p", "udp", "--dport", "9999", "-j", "RETURN")
    }
}

/// Runs meshcap on a namespace from the root one, as a container runtime or CNI plugin would:
/// the commands that read or change a host get `--netns` (the others run as they are). The root
/// namespace's rules and routing are read before and after, and must not have changed.
@discardableResult
func meshcapIn(_ ns: Namespace, _ arguments: [String], environment: [String: String]? = nil) throws -> ProcessResult {
    let command = arguments.first ?? ""
    let onHost = ["apply", "clean", "diff", "verify", "doctor"].contains(command) && !arguments.contains("--from")
        || command == "explain" && arguments.contains("--live")
    guard onHost else { return try run(meshcap, arguments, environment: environment) }
    let before = try HostState.root()
    let result = try run(meshcap, [command, "--netns", ns.name] + arguments.dropFirst(), environment: environment)
    let after = try HostState.root()
    #expect(after == before, "meshcap \(arguments.joined(separator: " ")) --netns \(ns.name) changed the root namespace: \(after.differences(from: before, label: "root namespace"))")
    return result
}
