import MeshCapture

/// An `nft -f` script for an `inet` ruleset.
///
/// The script owns meshcap's three tables: each is first created if missing and deleted, then
/// the tables in the ruleset are built anew. `nft -f` runs the whole file as one transaction, so
/// packets see the old rules or the new ones, never a mix, and a table the new config no longer
/// needs (mangle after leaving TPROXY) goes away. Every rule carries a counter for `verify`.
public enum NftRenderer {
    public static func render(_ ruleset: Ruleset) -> String {
        precondition(ruleset.layout == .inet, "nft renders an inet ruleset")
        var lines = ["#!/usr/sbin/nft -f", "# meshcap: nft -f input; replaces meshcap's tables in one transaction"]
        for kind in TableKind.allCases {
            lines += ["add table inet \(NftNames.table(kind))", "delete table inet \(NftNames.table(kind))"]
        }
        for table in ruleset.tables {
            lines.append("table inet \(NftNames.table(table.kind)) {")
            for (index, chain) in table.chains.enumerated() {
                if index > 0 { lines.append("") }
                lines.append("\tchain \(NftNames.chain(chain.name)) {")
                if case .builtin(let hook) = chain.name {
                    let base = NftNames.baseChain(table.kind, hook)
                    lines.append("\t\ttype \(base.type) hook \(hook.rawValue) priority \(base.priority); policy accept;")
                }
                for rule in chain.rules { lines.append("\t\t" + statement(rule)) }
                lines.append("\t}")
            }
            lines.append("}")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func statement(_ rule: Rule) -> String {
        (rule.matches.map(expression) + actions(rule)).joined(separator: " ")
    }

    static func expression(_ match: Match) -> String {
        switch match {
        case .l4proto(let proto): "meta l4proto \(proto.rawValue)"
        case .source(let prefix, let negated): "\(prefix.family == .ipv4 ? "ip" : "ip6") saddr \(op(negated))\(text(prefix))"
        case .destination(let prefix, let negated): "\(prefix.family == .ipv4 ? "ip" : "ip6") daddr \(op(negated))\(text(prefix))"
        case .inInterface(let name): "iifname \"\(name)\""
        case .outInterface(let name): "oifname \"\(name)\""
        case .destinationPort(let proto, let ports, let negated): "\(proto.rawValue) dport \(op(negated))\(text(ports))"
        case .sourcePort(let proto, let ports, let negated): "\(proto.rawValue) sport \(op(negated))\(text(ports))"
        case .socketUser(let owner, let negated): "meta skuid \(op(negated))\(text(owner))"
        case .socketGroup(let owner, let negated): "meta skgid \(op(negated))\(text(owner))"
        case .mark(let value, let negated): "meta mark \(op(negated))\(value)"
        case .connmark(let value): "ct mark \(value)"
        case .conntrackState(let states): "ct state \(states.sorted().map(\.rawValue).joined(separator: ","))"
        }
    }

    /// The target's statements with the counter before the last one, where Istio's nftables
    /// backend puts it (`... tproxy ip to :15006 meta mark set 1337 counter accept`).
    static func actions(_ rule: Rule) -> [String] {
        var statements: [String]
        switch rule.target {
        case .accept: statements = ["accept"]
        case .drop: statements = ["drop"]
        case .return: statements = ["return"]
        case .jump(let chain): statements = ["jump \(NftNames.chain(chain))"]
        case .redirect(let port): statements = ["redirect to :\(port)"]
        case .tproxy(let port, let mark):
            let family = rule.family.map { $0 == .ipv4 ? "ip " : "ip6 " } ?? ""
            statements = ["tproxy \(family)to :\(port)", "meta mark set \(mark)", "accept"]
        case .setMark(let mark): statements = ["meta mark set \(mark)"]
        case .saveMarkToConnection: statements = ["ct mark set meta mark"]
        case .restoreMarkFromConnection: statements = ["meta mark set ct mark"]
        case .conntrackZone(let zone): statements = ["ct zone set \(zone)"]
        }
        statements.insert("counter", at: statements.count - 1)
        return statements
    }

    static func op(_ negated: Bool) -> String { negated ? "!= " : "" }

    static func text(_ prefix: Prefix) -> String { prefix.isHost ? prefix.address.description : prefix.description }

    static func text(_ ports: [Port]) -> String {
        ports.count == 1 ? String(ports[0]) : "{ " + ports.map(String.init).joined(separator: ", ") + " }"
    }

    /// Names are quoted so that one with a '-' is read as a name, not an expression.
    static func text(_ owner: Owner) -> String {
        switch owner {
        case .id(let id): String(id)
        case .name(let name): "\"\(name)\""
        }
    }
}
