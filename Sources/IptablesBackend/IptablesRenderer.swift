import MeshCapture

/// `iptables-restore --noflush` input for one family, every rule written exactly as
/// `iptables-save` prints it once loaded (addresses before interfaces, marks in hex, targets with
/// their defaults spelled out), so the compiled file reads like the kernel's own view, and `diff`
/// and `verify` compare like with like.
///
/// Only regular chains are declared (`:ISTIO_OUTPUT - [0:0]`): declaring a built-in chain in
/// restore input would flush it, and other software's rules live there.
public enum IptablesRenderer {
    public static func render(_ ruleset: Ruleset) -> String {
        guard case .xtables(let family) = ruleset.layout else {
            preconditionFailure("iptables renders one family; got an inet ruleset")
        }
        var lines = ["# meshcap: \(family == .ipv4 ? "iptables" : "ip6tables")-restore --noflush input"]
        for table in ruleset.tables.sorted(by: { $0.kind.rawValue < $1.kind.rawValue }) {
            lines.append("*\(table.kind.rawValue)")
            for chain in table.chains {
                if case .regular(let name) = chain.name { lines.append(":\(name) - [0:0]") }
            }
            for chain in table.chains {
                for rule in chain.rules { lines.append(appendLine(chain.name, rule, family: family)) }
            }
            lines.append("COMMIT")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `-A CHAIN ...` as iptables-save prints it.
    public static func appendLine(_ chain: ChainName, _ rule: Rule, family: Family, tagged: Bool = false) -> String {
        text(["-A", chain.description] + words(rule, family: family, tagged: tagged))
    }

    /// Words as one line: a word with a blank (a log prefix) in double quotes, as iptables-save
    /// prints it and iptables-restore reads it.
    public static func text(_ words: [String]) -> String {
        words.map { $0.contains(" ") ? "\"\($0)\"" : $0 }.joined(separator: " ")
    }

    /// The words of a rule after `-A CHAIN`, in iptables-save's order: source, destination,
    /// interfaces, protocol, then the match modules (ports first, as Istio writes them, then the
    /// others in the rule's order), then the target.
    /// `tagged` adds meshcap's ownership comment (see `OwnershipTag`).
    public static func words(_ rule: Rule, family: Family, tagged: Bool = false) -> [String] {
        var source: [String] = [], destination: [String] = [], input: [String] = [], output: [String] = []
        var ports: [String] = [], modules: [String] = []
        let proto = rule.matches.lazy.compactMap(\.impliedProtocol).first
        for match in rule.matches {
            switch match {
            case .l4proto:
                break
            case .source(let prefix, let negated):
                source = not(negated) + ["-s", prefix.description]
            case .destination(let prefix, let negated):
                destination = not(negated) + ["-d", prefix.description]
            case .destinationSet, .sourceSet, .destinationPortSet:
                preconditionFailure("set \(match.namedSet?.name ?? "") in an iptables rule: the plan writes rules without sets for iptables")
            case .inInterface(let name):
                input = ["-i", name]
            case .outInterface(let name):
                output = ["-o", name]
            case .destinationPort(let p, let list, let negated):
                ports += portMatch(p, list, negated: negated, single: "--dport", multi: "--dports")
            case .sourcePort(let p, let list, let negated):
                ports += portMatch(p, list, negated: negated, single: "--sport", multi: "--sports")
            case .socketUser(let owner, let negated):
                modules += ["-m", "owner"] + not(negated) + ["--uid-owner", owner.description]
            case .socketGroup(let owner, let negated):
                modules += ["-m", "owner"] + not(negated) + ["--gid-owner", owner.description]
            case .mark(let value, let negated):
                modules += ["-m", "mark"] + not(negated) + ["--mark", hex(value)]
            case .connmark(let value):
                modules += ["-m", "connmark", "--mark", hex(value)]
            case .conntrackState(let states):
                modules += ["-m", "conntrack", "--ctstate", states.sorted(by: iptablesOrder).map { $0.rawValue.uppercased() }.joined(separator: ",")]
            case .rateLimit(let perSecond):
                modules += ["-m", "limit", "--limit", "\(perSecond)/sec"]
            }
        }
        let protocolPart = proto.map { ["-p", $0.rawValue] } ?? []
        let tag = tagged ? ["-m", "comment", "--comment", OwnershipTag.comment] : []
        return source + destination + input + output + protocolPart + tag + ports + modules + ["-j"] + target(rule.target, family: family)
    }

    static func not(_ negated: Bool) -> [String] { negated ? ["!"] : [] }

    /// iptables prints marks as hex.
    static func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }

    /// The order the conntrack match prints states in.
    static func iptablesOrder(_ a: ConntrackState, _ b: ConntrackState) -> Bool {
        let order: [ConntrackState] = [.invalid, .new, .related, .established]
        return order.firstIndex(of: a) ?? 0 < order.firstIndex(of: b) ?? 0
    }

    static func portMatch(_ proto: L4Protocol, _ ports: [Port], negated: Bool, single: String, multi: String) -> [String] {
        if ports.count == 1 {
            return ["-m", proto.rawValue] + not(negated) + [single, String(ports[0])]
        }
        return ["-m", "multiport"] + not(negated) + [multi, ports.map(String.init).joined(separator: ",")]
    }

    static func target(_ target: Target, family: Family) -> [String] {
        let all = "0xffffffff"
        switch target {
        case .accept: return ["ACCEPT"]
        case .drop: return ["DROP"]
        case .return: return ["RETURN"]
        case .jump(let chain): return [chain.description]
        case .redirect(let port): return ["REDIRECT", "--to-ports", String(port)]
        case .tproxy(let port, let mark):
            return ["TPROXY", "--on-port", String(port), "--on-ip", family == .ipv4 ? "0.0.0.0" : "::", "--tproxy-mark", "\(hex(mark))/\(all)"]
        case .setMark(let mark): return ["MARK", "--set-xmark", "\(hex(mark))/\(all)"]
        case .saveMarkToConnection: return ["CONNMARK", "--save-mark", "--nfmask", all, "--ctmask", all]
        case .restoreMarkFromConnection: return ["CONNMARK", "--restore-mark", "--nfmask", all, "--ctmask", all]
        case .conntrackZone(let zone): return ["CT", "--zone", String(zone)]
        // iptables-save leaves out NFLOG's default group 0.
        case .log(let prefix, nil): return ["LOG", "--log-prefix", prefix]
        case .log(let prefix, let group?): return ["NFLOG", "--nflog-prefix", prefix] + (group == 0 ? [] : ["--nflog-group", String(group)])
        }
    }

    /// The rule as it reads back from the kernel: owner names resolved to IDs (the kernel keeps
    /// numbers), an `l4proto` that only restates a port match's protocol left out, an address
    /// match of /0 left out (iptables drops it: it matches everything), and matches in the order
    /// iptables-save prints them (see `words`). Comparing a planned rule with a read-back one compares
    /// their canonical forms.
    public static func canonical(_ rule: Rule, resolve: (String, Bool) -> UInt32?) -> Rule {
        let ported = Set(rule.matches.compactMap(\.portProtocol))
        var head: [Match] = [], proto: [Match] = [], ports: [Match] = [], rest: [Match] = []
        var source: Match?, destination: Match?, input: Match?, output: Match?
        for match in rule.matches {
            switch match {
            case .source(let prefix, let negated): if prefix.length > 0 || negated { source = match }
            case .destination(let prefix, let negated): if prefix.length > 0 || negated { destination = match }
            case .inInterface: input = match
            case .outInterface: output = match
            case .l4proto(let p): if !ported.contains(p) { proto.append(match) }
            case .socketUser(let owner, let negated): rest.append(.socketUser(owner.numeric(isGroup: false, resolve: resolve), negated: negated))
            case .socketGroup(let owner, let negated): rest.append(.socketGroup(owner.numeric(isGroup: true, resolve: resolve), negated: negated))
            case .conntrackState(let states): rest.append(.conntrackState(states.sorted(by: iptablesOrder)))
            case .destinationPort, .sourcePort: ports.append(match)
            default: rest.append(match)
            }
        }
        head = [source, destination, input, output].compactMap { $0 }
        return Rule(matches: head + proto + ports + rest, target: rule.target)
    }
}

/// How meshcap marks the rules it puts into the built-in chains (PREROUTING, OUTPUT), where
/// other software's rules live too: `-m comment --comment meshcap`. Its own chains (ISTIO_*) need
/// no mark; a chain is wholly meshcap's. The compiled files carry no mark (they are Istio's rules,
/// byte for byte); `apply` adds it, so that a second apply replaces instead of duplicating.
public enum OwnershipTag {
    public static let comment = "meshcap"
}
