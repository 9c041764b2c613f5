import CNftnl
import MeshCapture

public struct UnresolvedOwner: Failure, CustomStringConvertible {
    public let name: String
    public let isGroup: Bool
    public var description: String { "the \(isGroup ? "group" : "user") \"\(name)\" does not exist on this host" }
    public var exitStatus: ExitStatus { .badInput }
    public var lines: [String] { [description] }
}

/// One nft statement of a rule: what `nft` prints and what it sends, side by side, so the text
/// backend and the netlink encoder cannot drift apart. A saved `nft list ruleset` is read back
/// through the same statements (`rule(_:)`).
public enum NftStatement: Sendable, Hashable {
    case match(Match)
    case counter
    case verdict(Target)
    case redirect(Port)
    case tproxy(Port, Family?)
    case setMark(UInt32)
    case markToConnection
    case connectionToMark
    case zone(UInt16)
    case log(prefix: String, group: UInt16?)

    /// A rule's statements: its matches, then its target's statements with the counter before
    /// the last one, where Istio's nftables backend puts it
    /// (`... tproxy ip to :15006 meta mark set 1337 counter accept`).
    public static func of(_ rule: Rule) -> [NftStatement] {
        var actions: [NftStatement]
        switch rule.target {
        case .accept, .drop, .return, .jump: actions = [.verdict(rule.target)]
        case .redirect(let port): actions = [.redirect(port)]
        case .tproxy(let port, let mark): actions = [.tproxy(port, rule.family), .setMark(mark), .verdict(.accept)]
        case .setMark(let mark): actions = [.setMark(mark)]
        case .saveMarkToConnection: actions = [.markToConnection]
        case .restoreMarkFromConnection: actions = [.connectionToMark]
        case .conntrackZone(let zone): actions = [.zone(zone)]
        case .log(let prefix, let group): actions = [.log(prefix: prefix, group: group)]
        }
        actions.insert(.counter, at: actions.count - 1)
        return rule.matches.map(NftStatement.match) + actions
    }

    /// The rule these statements are, counter included where `of` puts it, or with no counter at
    /// all (Istio's nft rules had none until istio/istio#57216); nil for a sequence meshcap does not write
    /// (a target's parts missing or out of order, a counter elsewhere).
    public static func rule(_ statements: [NftStatement]) -> Rule? {
        var matches: [Match] = []
        for case .match(let match) in statements.prefix(while: { if case .match = $0 { true } else { false } }) {
            matches.append(match)
        }
        let actions = statements.dropFirst(matches.count).filter { $0 != .counter }
        let target: Target
        switch (actions.first, actions.dropFirst().first, actions.count) {
        case (.verdict(let verdict)?, _, 1): target = verdict
        case (.redirect(let port)?, _, 1): target = .redirect(toPort: port)
        case (.tproxy(let port, _)?, .setMark(let mark)?, 3): target = .tproxy(toPort: port, mark: mark)
        case (.setMark(let mark)?, _, 1): target = .setMark(mark)
        case (.markToConnection?, _, 1): target = .saveMarkToConnection
        case (.connectionToMark?, _, 1): target = .restoreMarkFromConnection
        case (.zone(let zone)?, _, 1): target = .conntrackZone(zone)
        case (.log(let prefix, let group)?, _, 1): target = .log(prefix: prefix, group: group)
        default: return nil
        }
        let rule = Rule(matches: matches, target: target)
        // Exact: written again, the rule gives the same statements in the same places.
        let written = of(rule)
        return written == statements || (!statements.contains(.counter) && written.filter { $0 != .counter } == statements) ? rule : nil
    }

    var text: String {
        switch self {
        case .match(let match): Self.text(match)
        case .counter: "counter"
        case .verdict(let target):
            switch target {
            case .accept: "accept"
            case .drop: "drop"
            case .jump(let chain): "jump \(NftNames.chain(chain))"
            default: "return"
            }
        case .redirect(let port): "redirect to :\(port)"
        case .tproxy(let port, let family): "tproxy \(family.map { $0 == .ipv4 ? "ip " : "ip6 " } ?? "")to :\(port)"
        case .setMark(let mark): "meta mark set \(mark)"
        case .markToConnection: "ct mark set meta mark"
        case .connectionToMark: "meta mark set ct mark"
        case .zone(let zone): "ct zone set \(zone)"
        case .log(let prefix, let group): "log prefix \"\(prefix)\"" + (group.map { " group \($0)" } ?? "")
        }
    }

    /// A prefix as nft writes it: a host as a bare address.
    public static func element(_ prefix: Prefix) -> String { prefix.isHost ? prefix.address.description : prefix.description }

    private static func text(_ match: Match) -> String {
        func op(_ negated: Bool) -> String { negated ? "!= " : "" }
        func address(_ prefix: Prefix) -> String { element(prefix) }
        func ports(_ ports: [Port]) -> String {
            ports.count == 1 ? String(ports[0]) : "{ " + ports.map(String.init).joined(separator: ", ") + " }"
        }
        // Names are quoted so that one with a '-' is read as a name, not an expression.
        func owner(_ owner: Owner) -> String {
            switch owner {
            case .id(let id): String(id)
            case .name(let name): "\"\(name)\""
            }
        }
        switch match {
        case .l4proto(let proto): return "meta l4proto \(proto.rawValue)"
        case .source(let prefix, let negated): return "\(prefix.family == .ipv4 ? "ip" : "ip6") saddr \(op(negated))\(address(prefix))"
        case .destination(let prefix, let negated): return "\(prefix.family == .ipv4 ? "ip" : "ip6") daddr \(op(negated))\(address(prefix))"
        case .destinationSet(let set): return "\(set.family == .ipv4 ? "ip" : "ip6") daddr @\(set.name)"
        case .sourceSet(let set): return "\(set.family == .ipv4 ? "ip" : "ip6") saddr @\(set.name)"
        case .inInterface(let name): return "iifname \"\(name)\""
        case .outInterface(let name): return "oifname \"\(name)\""
        case .destinationPort(let proto, let list, let negated): return "\(proto.rawValue) dport \(op(negated))\(ports(list))"
        case .sourcePort(let proto, let list, let negated): return "\(proto.rawValue) sport \(op(negated))\(ports(list))"
        case .destinationPortSet(let proto, let set): return "\(proto.rawValue) dport @\(set.name)"
        case .socketUser(let id, let negated): return "meta skuid \(op(negated))\(owner(id))"
        case .socketGroup(let id, let negated): return "meta skgid \(op(negated))\(owner(id))"
        case .mark(let value, let negated): return "meta mark \(op(negated))\(value)"
        case .connmark(let value): return "ct mark \(value)"
        case .rateLimit(let perSecond): return "limit rate \(perSecond)/second"
        case .conntrackState(let states): return "ct state \(states.sorted().map(\.rawValue).joined(separator: ","))"
        }
    }
}
