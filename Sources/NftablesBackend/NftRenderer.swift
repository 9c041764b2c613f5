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
            let sets = table.sets
            for set in sets {
                let type = switch set {
                case .prefixes(let prefixes): ["\t\ttype \(prefixes.family == .ipv4 ? "ipv4_addr" : "ipv6_addr")", "\t\tflags interval"]
                case .ports: ["\t\ttype inet_service"]
                }
                lines += ["\tset \(set.name) {"] + type + (set.countsElements ? ["\t\tcounter"] : []) + ["\t\telements = { " + set.elements.map(element).joined(separator: ", ") + " }", "\t}", ""]
            }
            for (index, chain) in table.chains.enumerated() {
                if index > 0 { lines.append("") }
                lines.append("\tchain \(NftNames.chain(chain.name)) {")
                if case .builtin(let hook) = chain.name {
                    lines.append("\t\ttype \(NftNames.chainType(table.kind, hook)) hook \(hook.rawValue) priority \(table.kind.priority(at: hook)); policy accept;")
                }
                for rule in chain.rules { lines.append("\t\t" + statement(rule)) }
                lines.append("\t}")
            }
            lines.append("}")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A set element as nft writes it: a port, a prefix, a host as a bare address.
    public static func element(_ element: SetElement) -> String {
        switch element {
        case .prefix(let prefix): NftStatement.element(prefix)
        case .port(let port): String(port)
        }
    }

    public static func statement(_ rule: Rule) -> String {
        NftStatement.of(rule).map(\.text).joined(separator: " ")
    }
}
