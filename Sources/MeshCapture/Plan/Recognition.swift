/// The plan read backwards: what a rule found on a host is for, from where it sits and what it
/// matches. `verify` without a config reads rows through it; a test holds it to the plan's own
/// annotations for every profile and every corpus case, so the two cannot drift apart.
extension Purpose {
    /// What each of a chain's rules is for, in order; nil for a rule meshcap does not write there.
    /// One pass: what a rule is for can depend on the rules around it, and a chain read from a
    /// dump may hold hundreds of thousands.
    /// - Parameter rules: the chain's rules as read, in order.
    public static func recognised(table: TableKind, chain: ChainName, rules: [Rule]) -> [Purpose?] {
        let context = Context(rules)
        return rules.enumerated().map { recognised($1, at: $0, table: table, chain: chain, context) }
    }

    /// What the rules of a chain say about each other.
    struct Context {
        /// Owners whose rule jumps into ISTIO_IN_REDIRECT (the proxy's, which also sends its own
        /// calls over lo to the inbound port).
        var redirected = Set<Owner>()
        /// Per family, where the first RETURN to a destination of that family is.
        var firstDestinationReturn: [Family: Int] = [:]
        /// Where the first rule that is not a log rule (`--log`) is.
        var firstUnlogged: Int?

        init(_ rules: [Rule]) {
            firstUnlogged = rules.firstIndex { !$0.isLog }
            for (index, rule) in rules.enumerated() {
                if rule.target == .jump(.istioInRedirect), let owner = Fields(rule).owner?.owner { redirected.insert(owner) }
                if rule.target == .return, let family = Fields(rule).destination?.family, firstDestinationReturn[family] == nil {
                    firstDestinationReturn[family] = index
                }
            }
        }
    }

    static func recognised(_ rule: Rule, at index: Int, table: TableKind, chain: ChainName, _ context: Context) -> Purpose? {
        let m = Fields(rule)
        switch (table, chain, rule.target) {
        case (.nat, .prerouting, .return), (.mangle, .prerouting, .return):
            return m.inInterface.map { .interface($0, .inbound, .exclude) }
        case (.nat, .prerouting, .jump(.istioInbound)), (.mangle, .prerouting, .jump(.istioInbound)):
            return .entry(.inbound)
        case (.nat, .prerouting, .jump(.istioRedirect)):
            // Istio before 1.0 sent all inbound TCP to the one proxy port through ISTIO_REDIRECT.
            return m.inInterface.map { .interface($0, .outbound, .capture) } ?? .entry(.inbound)
        case (.nat, .output, .return):
            return m.outInterface.map { .interface($0, .outbound, .exclude) }
        case (.nat, .output, .jump(.istioOutput)):
            return .entry(.outbound)
        case (.nat, .istioInbound, .return):
            if let excluded = m.excludedSource { return excluded }
            // The tunnel port's return is declared first in nat ISTIO_INBOUND (after its log rule,
            // with --log); later ones are exclusions.
            return m.destinationPort.map { .inboundPort($0, index == context.firstUnlogged ? .tunnel : .exclude) } ?? m.inboundPorts(.exclude)
        case (_, .istioInbound, .jump(.istioInRedirect)), (_, .istioInbound, .jump(.istioDivert)), (_, .istioInbound, .jump(.istioTProxy)):
            return m.destinationPort.map { .inboundPort($0, .capture) } ?? m.inboundPorts(.capture) ?? .inboundOtherPorts
        case (.mangle, .istioInbound, .return):
            // Envoy's passthrough comes over lo; an excluded source from anywhere.
            if let source = m.source, m.inInterface == Istio.loopbackInterface { return .host(source, .passthrough) }
            if let excluded = m.excludedSource { return excluded }
            if let (_, negated) = m.mark { return negated ? .host(nil, .loopback) : .tproxyMark(.inbound) }
            return m.destinationPort.map { .inboundPort($0, .exclude) } ?? m.inboundPorts(.exclude)
        case (.nat, .istioRedirect, .redirect):
            return .handoff(.outbound)
        case (.nat, .istioInRedirect, .redirect), (.mangle, .istioTProxy, .tproxy):
            return .handoff(.inbound)
        case (.nat, .istioOutput, .jump(.istioOutputDNS)), (.raw, .output, .jump(.istioOutputDNS)):
            return .path(.istioOutputDNS)
        case (.nat, .istioOutput, .jump(.istioInRedirect)):
            return m.owner.map { .proxy($0.owner, group: $0.group, .capture) }
        case (.nat, .istioOutput, .jump(.istioRedirect)):
            if let port = m.destinationPort { return .outboundPort(port, .tcp, .capture) }
            if let ports = m.outboundPorts(.capture) { return ports }
            if let set = m.destinationSet { return .outboundRangeSet(set.family, .capture) }
            return m.destination.map { .outboundRange($0, .capture) } ?? .outboundOtherRanges
        case (.nat, .istioOutput, .return):
            return outputReturn(m, index: index, context)
        case (.nat, .istioOutputDNS, .redirect):
            return m.dnsProtocol.map { .dns(m.destination?.address, $0) }
        case (.nat, .istioOutput, .redirect):
            // Istio 1.8 to 1.24 captured DNS in ISTIO_OUTPUT itself (ISTIO_OUTPUT_DNS came in 1.25).
            return m.dnsProtocol.map { .dns(m.destination?.address, $0) }
        case (.raw, .prerouting, .jump(.istioInbound)):
            return .path(.istioInbound)
        case (.raw, _, .conntrackZone(let zone)):
            return .dnsZone(zone)
        case (.mangle, .prerouting, .jump(.istioDrop)):
            return .invalid
        case (.mangle, .istioDrop, .drop):
            return .path(.istioDrop)
        case (.mangle, .prerouting, .saveMarkToConnection):
            return .tproxyMark(.inbound)
        case (.mangle, .output, .return):
            return m.mark != nil ? .tproxyMark(.outbound) : m.outInterface.map { .interface($0, .outbound, .exclude) }
        case (.mangle, .output, .setMark), (.mangle, .output, .restoreMarkFromConnection):
            return .tproxyMark(.outbound)
        case (.mangle, .istioDivert, _):
            return .path(.istioDivert)
        case (_, _, .log(let prefix, _)):
            return Purpose.logged(prefix)
        default:
            return nil
        }
    }

    /// nat ISTIO_OUTPUT's returns, the chain with the most kinds of them.
    static func outputReturn(_ m: Fields, index: Int, _ context: Context) -> Purpose? {
        // Istio 1.8 to 1.24: the proxy's own DNS queries (port 53 from its user or group) go out
        // past the DNS capture that follows: a bypass of the proxy's, not an excluded port.
        if m.dnsProtocol != nil, let owner = m.owner, !owner.negated, !m.portNegated {
            return .proxy(owner.owner, group: owner.group, .bypass)
        }
        if let port = m.destinationPort, let proto = m.portProtocol, !m.portNegated { return .outboundPort(port, proto, .exclude) }
        if let ports = m.outboundPorts(.exclude) { return ports }
        if m.outInterface == Istio.loopbackInterface {
            if let source = m.source { return .host(source, .passthrough) }
            if m.owner?.negated == true { return .host(nil, .loopback) }
        }
        if let owner = m.owner {
            if owner.negated { return .otherGroups(m.negatedGroups) }
            // The proxy's GID also sends its own calls over lo to the inbound port; an excluded group does not.
            let isProxy = !owner.group || context.redirected.contains(owner.owner)
            return isProxy ? .proxy(owner.owner, group: owner.group, .bypass) : .ownerGroup(owner.owner)
        }
        if let set = m.destinationSet { return .outboundRangeSet(set.family, .exclude) }
        if let destination = m.destination {
            // The host's own address comes first of its family; an excluded range may be loopback too.
            let first = context.firstDestinationReturn[destination.family] == index
            return first && destination.address.isLoopback ? .host(destination, .loopback) : .outboundRange(destination, .exclude)
        }
        return nil
    }

    /// The matches of a rule, by kind.
    struct Fields {
        var inInterface: String?
        var outInterface: String?
        var source: Prefix?
        var destination: Prefix?
        var destinationSet: PrefixSet?
        var sourceSet: PrefixSet?
        var destinationPort: Port?
        /// Several ports in one rule (iptables multiport), not negated.
        var destinationPorts: [Port]?
        var portSet: PortSet?
        var portProtocol: L4Protocol?
        var portNegated = false
        var dnsProtocol: L4Protocol?
        var owner: (owner: Owner, group: Bool, negated: Bool)?
        var negatedGroups: [Owner] = []
        var mark: (UInt32, negated: Bool)?

        init(_ rule: Rule) {
            for match in rule.matches {
                switch match {
                case .inInterface(let name): inInterface = name
                case .outInterface(let name): outInterface = name
                case .source(let prefix, false): source = prefix
                case .destination(let prefix, false): destination = prefix
                case .destinationSet(let set): destinationSet = set
                case .sourceSet(let set): sourceSet = set
                case .destinationPort(let proto, let ports, let negated):
                    portProtocol = proto
                    portNegated = negated
                    if ports.count == 1 { destinationPort = ports[0] } else if !negated { destinationPorts = ports }
                    if ports == [Istio.dnsPort] && !negated { dnsProtocol = proto }
                case .destinationPortSet(let proto, let set):
                    portProtocol = proto
                    portSet = set
                case .socketUser(let user, let negated): owner = (user, false, negated)
                case .socketGroup(let group, let negated):
                    owner = (group, true, negated)
                    if negated { negatedGroups.append(group) }
                case .mark(let value, let negated): mark = (value, negated)
                default: break
                }
            }
        }
    }
}

extension Purpose.Fields {
    /// An INBOUND_IPRANGES_EXCLUDE return: a source range, or a set of them.
    var excludedSource: Purpose? {
        if let set = sourceSet { return .inboundSourceSet(set.family) }
        return source.map { .inboundSource($0) }
    }

    /// Inbound ports matched together: a set's, or a multiport rule's.
    func inboundPorts(_ action: Purpose.Action) -> Purpose? {
        if portSet != nil { return .inboundPortSet(action) }
        return destinationPorts.map { .portGroup(.inbound, $0, .tcp, action) }
    }

    /// Outbound ports matched together, of the rule's protocol.
    func outboundPorts(_ action: Purpose.Action) -> Purpose? {
        guard let proto = portProtocol else { return nil }
        if portSet != nil { return .outboundPortSet(proto, action) }
        return destinationPorts.map { .portGroup(.outbound, $0, proto, action) }
    }
}
