import MeshCapture

/// `iptables-restore --noflush` input for one family.
///
/// Only regular chains are declared (`:ISTIO_OUTPUT - [0:0]`): declaring a built-in chain in
/// restore input would flush it, and other software's rules live there. Rules are written in
/// the order iptables-save prints them, so the file reads like the kernel's own view.
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
                for rule in chain.rules {
                    lines.append((["-A", chain.name.description] + arguments(rule)).joined(separator: " "))
                }
            }
            lines.append("COMMIT")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// iptables' own order: addresses and interfaces, the protocol with its port matches, then
    /// the other match modules in rule order, then the target.
    static func arguments(_ rule: Rule) -> [String] {
        var header: [String] = []
        var ports: [String] = []
        var modules: [String] = []
        var proto: L4Protocol?
        for match in rule.matches {
            switch match {
            case .l4proto(let p):
                proto = proto ?? p
            case .source(let prefix, let negated):
                header += not(negated) + ["-s", prefix.description]
            case .destination(let prefix, let negated):
                header += not(negated) + ["-d", prefix.description]
            case .inInterface(let name):
                header += ["-i", name]
            case .outInterface(let name):
                header += ["-o", name]
            case .destinationPort(let p, let list, let negated):
                proto = proto ?? p
                ports += portMatch(p, list, negated: negated, single: "--dport", multi: "--dports")
            case .sourcePort(let p, let list, let negated):
                proto = proto ?? p
                ports += portMatch(p, list, negated: negated, single: "--sport", multi: "--sports")
            case .socketUser(let owner, let negated):
                modules += ["-m", "owner"] + not(negated) + ["--uid-owner", owner.description]
            case .socketGroup(let owner, let negated):
                modules += ["-m", "owner"] + not(negated) + ["--gid-owner", owner.description]
            case .mark(let value, let negated):
                modules += ["-m", "mark"] + not(negated) + ["--mark", String(value)]
            case .connmark(let value):
                modules += ["-m", "connmark", "--mark", String(value)]
            case .conntrackState(let states):
                modules += ["-m", "conntrack", "--ctstate", states.map { $0.rawValue.uppercased() }.joined(separator: ",")]
            }
        }
        let protocolPart = proto.map { ["-p", $0.rawValue] } ?? []
        return header + protocolPart + ports + modules + ["-j"] + target(rule.target)
    }

    static func not(_ negated: Bool) -> [String] { negated ? ["!"] : [] }

    static func portMatch(_ proto: L4Protocol, _ ports: [Port], negated: Bool, single: String, multi: String) -> [String] {
        if ports.count == 1 {
            return ["-m", proto.rawValue] + not(negated) + [single, String(ports[0])]
        }
        return ["-m", "multiport"] + not(negated) + [multi, ports.map(String.init).joined(separator: ",")]
    }

    static func target(_ target: Target) -> [String] {
        switch target {
        case .accept: ["ACCEPT"]
        case .drop: ["DROP"]
        case .return: ["RETURN"]
        case .jump(let chain): [chain.description]
        case .redirect(let port): ["REDIRECT", "--to-ports", String(port)]
        case .tproxy(let port, let mark): ["TPROXY", "--on-port", String(port), "--tproxy-mark", "\(mark)/0xffffffff"]
        case .setMark(let mark): ["MARK", "--set-mark", String(mark)]
        case .saveMarkToConnection: ["CONNMARK", "--save-mark"]
        case .restoreMarkFromConnection: ["CONNMARK", "--restore-mark"]
        case .conntrackZone(let zone): ["CT", "--zone", String(zone)]
        }
    }
}
