import MeshCapture

/// Examples of every `Match` and `Target` case, for round trips through every renderer, encoder,
/// decoder and parser. `kind(of:)` are exhaustive switches: a case added to the model does not
/// compile until it is named here, and `CatalogueTests` fails until it has an example.
public enum Catalogue {
    public enum MatchKind: CaseIterable, Sendable {
        case l4proto, source, destination, destinationSet, sourceSet, inInterface, outInterface, destinationPort, sourcePort, destinationPortSet
        case socketUser, socketGroup, mark, connmark, conntrackState, rateLimit
    }

    public enum TargetKind: CaseIterable, Sendable {
        case accept, drop, `return`, jump, redirect, tproxy, setMark, saveMarkToConnection, restoreMarkFromConnection, conntrackZone, log
    }

    public static func kind(of match: Match) -> MatchKind {
        switch match {
        case .l4proto: .l4proto
        case .source: .source
        case .destination: .destination
        case .destinationSet: .destinationSet
        case .sourceSet: .sourceSet
        case .inInterface: .inInterface
        case .outInterface: .outInterface
        case .destinationPort: .destinationPort
        case .sourcePort: .sourcePort
        case .destinationPortSet: .destinationPortSet
        case .socketUser: .socketUser
        case .socketGroup: .socketGroup
        case .mark: .mark
        case .connmark: .connmark
        case .conntrackState: .conntrackState
        case .rateLimit: .rateLimit
        }
    }

    public static func kind(of target: Target) -> TargetKind {
        switch target {
        case .accept: .accept
        case .drop: .drop
        case .return: .return
        case .jump: .jump
        case .redirect: .redirect
        case .tproxy: .tproxy
        case .setMark: .setMark
        case .saveMarkToConnection: .saveMarkToConnection
        case .restoreMarkFromConnection: .restoreMarkFromConnection
        case .conntrackZone: .conntrackZone
        case .log: .log
        }
    }

    static func prefix(_ text: String) -> Prefix {
        guard let prefix = try? Prefix.parse(Substring(text)) else { preconditionFailure("catalogue prefix \(text)") }
        return prefix
    }

    /// Every match case, plain and negated where it can be, with the encodings that differ:
    /// prefix lengths (host, byte-aligned, unaligned, zero), one port or several, TCP and UDP.
    public static func matches(_ family: Family) -> [Match] {
        let prefixes = family == .ipv4
            ? ["192.0.2.1/32", "10.0.0.0/8", "10.96.0.0/12", "0.0.0.0/0"].map(prefix)
            : ["2001:db8::1/128", "fd00::/8", "fd00:10:96::/113", "::/0"].map(prefix)
        var all: [Match] = [.l4proto(.tcp), .l4proto(.udp)]
        for prefix in prefixes {
            all += [.source(prefix), .destination(prefix)]
            // "Not anywhere" matches nothing, and iptables-nft cannot express it; the plan only
            // negates loopback hosts (HOST_IPV4_LOOPBACK_CIDR is at least a /8).
            if prefix.length > 0 { all += [.source(prefix, negated: true), .destination(prefix, negated: true)] }
        }
        // nft only (a named set): a host, touching prefixes, and the top of the address space.
        let listed = family == .ipv4
            ? ["192.0.2.1/32", "10.0.0.0/25", "10.0.0.128/26", "255.255.255.0/24"].map(prefix)
            : ["2001:db8::1/128", "fd00:0:0:1::/64", "fd00:0:0:2::/64", "ffff::/16"].map(prefix)
        all.append(.destinationSet(PrefixSet(name: "catalogue-\(family.rawValue)", family: family, prefixes: listed)))
        all.append(.sourceSet(PrefixSet(name: "catalogue-sources-\(family.rawValue)", family: family, prefixes: listed)))
        all += [.inInterface("lo"), .inInterface("eth0.100"), .outInterface("lo"), .outInterface("k6t-eth0")]
        for proto in [L4Protocol.tcp, .udp] {
            all.append(.destinationPortSet(proto, PortSet(name: "catalogue-ports-\(proto.rawValue)", ports: [1, 22, 80, 443, 15001, 65535])))
            for ports in [[53], [15001, 15006], [22, 80, 443]] as [[Port]] {
                all += [.destinationPort(proto, ports), .destinationPort(proto, ports, negated: true),
                        .sourcePort(proto, ports), .sourcePort(proto, ports, negated: true)]
            }
        }
        all += [.socketUser(.id(1337)), .socketUser(.id(0), negated: true), .socketGroup(.id(998)), .socketGroup(.id(4_294_967_294), negated: true)]
        all += [.mark(1337), .mark(0xffff_ffff, negated: true), .connmark(1338)]
        all += [.conntrackState([.invalid]), .conntrackState([.related, .established]), .conntrackState([.new])]
        all += [.rateLimit(perSecond: 10), .rateLimit(perSecond: 1), .rateLimit(perSecond: 10_000)]
        return all
    }

    public static let targets: [Target] = [
        .accept, .drop, .return, .jump(.istioRedirect), .jump(.istioOutputDNS),
        .redirect(toPort: 15001), .redirect(toPort: 1), .tproxy(toPort: 15006, mark: 1337), .setMark(1338), .setMark(0xffff_fffe),
        .saveMarkToConnection, .restoreMarkFromConnection, .conntrackZone(1), .conntrackZone(65535),
        .log(prefix: "meshcap in capture: ", group: nil), .log(prefix: "web-1.a_b out passthrough: ", group: 65535), .log(prefix: "meshcap out exclude: ", group: 0),
    ]

    /// The iptables table a target may be used in (REDIRECT only in nat, TPROXY in mangle, CT in
    /// raw, DROP anywhere but nat).
    public static func table(for target: Target) -> TableKind {
        switch target {
        case .redirect: .nat
        case .tproxy, .setMark, .saveMarkToConnection, .restoreMarkFromConnection: .mangle
        case .conntrackZone: .raw
        case .drop: .mangle
        case .accept, .return, .jump, .log: .nat
        }
    }

    /// Each match alone, each target alone (port-mapping targets after the protocol match nft
    /// requires, TPROXY with the address match it needs in an inet table), and rules the plan
    /// writes, with several matches in the order Istio gives them.
    public static func rules(_ family: Family) -> [Rule] {
        let other = family == .ipv4 ? prefix("127.0.0.1/32") : prefix("::1/128")
        var rules = matches(family).map { Rule($0, then: .return) }
        rules += targets.map { target in
            switch target {
            case .tproxy: return Rule(.l4proto(.tcp), .destination(other, negated: true), then: target)
            case .redirect: return Rule(.l4proto(.tcp), then: target)
            default: return Rule(then: target)
            }
        }
        rules += [
            Rule(.outInterface("lo"), .l4proto(.tcp), .destination(other, negated: true), .destinationPort(.tcp, [53, 15008], negated: true),
                 .socketUser(.id(1337)), then: .jump(.istioInRedirect)),
            Rule(.inInterface("lo"), .l4proto(.tcp), .source(other), then: .return),
            Rule(.l4proto(.tcp), .conntrackState([.related, .established]), .destinationPort(.tcp, [8080]), then: .jump(.istioDivert)),
            Rule(.destination(other), .destinationPort(.udp, [53]), then: .conntrackZone(2)),
            Rule(.sourcePort(.udp, [53]), .source(other), then: .conntrackZone(1)),
            Rule(.l4proto(.tcp), .mark(1337), then: .saveMarkToConnection),
            Rule(.l4proto(.tcp), .connmark(1337), then: .restoreMarkFromConnection),
            Rule(.l4proto(.tcp), .conntrackState([.new]), .destinationPort(.tcp, [8080]), .rateLimit(perSecond: 10), then: .log(prefix: "meshcap in capture: ", group: 5)),
        ]
        return rules
    }
}
