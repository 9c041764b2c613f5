/// `--log`: a rate-limited log rule in front of each rule that decides where a connection goes,
/// so an operator sees which rule took it (as Istio's trace logging and Kuma's `--iptables-logs`
/// do). The log rule has the decision's matches, and a packet that reaches it reaches the decision
/// too (logging lets the packet go on), so it logs exactly the packets that rule takes.
extension Ruleset {
    /// Packets a second each log rule writes at most (in bursts of 5): enough to follow a
    /// connection being made by hand, too few to flood the log under load.
    public static let logRate: UInt32 = 10

    func logged(prefix: String, group: UInt16?) -> Ruleset {
        Ruleset(layout: layout, tables: tables.map { table in
            Table(kind: table.kind, chains: table.chains.map { chain in
                Chain(name: chain.name, rules: chain.rules.flatMap { rule in
                    Self.logRule(for: rule, in: table.kind, prefix: prefix, group: group).map { [$0, rule] } ?? [rule]
                })
            })
        })
    }

    /// The log rule for `rule`, if it decides anything. nat sees only a connection's first packet;
    /// mangle sees them all, so there the log rule asks for a new connection, and a rule for
    /// established ones only (TPROXY's divert) is the continuation of one already logged. A rule
    /// for packets arriving on lo (TPROXY's loopback and passthrough returns) sees connections of
    /// this host's own sockets, logged on their way out: a redirected connection's first packet
    /// is still new when it comes back over lo, and would be logged twice. A jump into a
    /// redirect chain takes only TCP there (ISTIO_REDIRECT's REDIRECT is TCP's), so its log rule
    /// asks for TCP: a UDP flow to a captured range is not captured, and is not logged as such.
    static func logRule(for rule: Rule, in table: TableKind, prefix: String, group: UInt16?) -> Rule? {
        guard let decision = rule.purpose?.decision, !rule.matches.contains(.inInterface(Istio.loopbackInterface)) else { return nil }
        var matches = rule.matches
        if [.jump(.istioRedirect), .jump(.istioInRedirect)].contains(rule.target), !matches.contains(where: { $0.impliedProtocol != nil }) {
            matches.append(.l4proto(.tcp))
        }
        if table != .nat {
            let states = matches.lazy.compactMap { match -> [ConntrackState]? in
                if case .conntrackState(let states) = match { states } else { nil }
            }.first
            switch states {
            case nil: matches.append(.conntrackState([.new]))
            case let states? where !states.contains(.new) && !states.contains(.invalid): return nil
            default: break
            }
        }
        let tag = "\(prefix) \(decision.direction == .inbound ? "in" : "out") \(decision.action.rawValue): "
        return Rule(matches: matches + [.rateLimit(perSecond: logRate)], target: .log(prefix: tag, group: group),
                    purpose: .log(decision.direction, decision.action))
    }
}

extension Purpose {
    /// A log rule read back, from its prefix ("meshcap in capture: "); nil for another program's.
    static func logged(_ prefix: String) -> Purpose? {
        let words = prefix.split(separator: " ")
        guard words.count == 3, words[2].hasSuffix(":"), let action = Action(rawValue: String(words[2].dropLast())) else { return nil }
        switch words[1] {
        case "in": return .log(.inbound, action)
        case "out": return .log(.outbound, action)
        default: return nil
        }
    }
}
