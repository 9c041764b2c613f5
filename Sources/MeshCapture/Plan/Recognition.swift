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
        /// UIDs whose traffic returns: before 1.5 Istio let the proxy's UID and GID by with one
        /// plain return each, and its GID is its UID's number unless set apart.
        var bypassedUsers = Set<Owner>()
        /// Per family, where the first RETURN to a destination of that family is.
        var firstDestinationReturn: [Family: Int] = [:]
        /// Where the first rule that is not a log rule (`--log`) is.
        var firstUnlogged: Int?

        init(_ rules: [Rule]) {
            firstUnlogged = rules.firstIndex { !$0.isLog }
            for (index, rule) in rules.enumerated() {
                let owner = Fields(rule).owner
                if rule.target == .jump(.istioInRedirect), let owner { redirected.insert(owner.owner) }
                if rule.target == .return, let owner, !owner.group, !owner.negated { bypassedUsers.insert(owner.owner) }
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
            return m.dnsBypass ?? m.outInterface.map { .interface($0, .outbound, .exclude) }
        case (.nat, .output, .redirect):
            // Istio 1.9 to 1.22 captured UDP DNS in nat OUTPUT itself.
            return m.dnsProtocol.map { .dns(m.destination?.address, $0) }
        case (.nat, .output, .jump(.istioOutput)):
            return .entry(.outbound)
        case (.nat, .istioInbound, .return):
            if let excluded = m.excludedSource { return excluded }
            // The tunnel port's return is declared first in nat ISTIO_INBOUND (after its log rule,
            // with --log); later ones are exclusions. Istio before 1.7 had no tunnel: its first
            // return there was ssh's (port 22, excluded until 1.13).
            return m.destinationPort.map { .inboundPort($0, index == context.firstUnlogged && $0 != Istio.sshPort ? .tunnel : .exclude) }
                ?? m.inboundPorts(.exclude)
        case (_, .istioInbound, .jump(.istioInRedirect)), (_, .istioInbound, .jump(.istioDivert)), (_, .istioInbound, .jump(.istioTProxy)):
            return m.destinationPort.map { .inboundPort($0, .capture) } ?? m.inboundPorts(.capture) ?? .inboundOtherPorts
        case (.mangle, .istioInbound, .return):
            // Envoy's passthrough comes over lo; an excluded source from anywhere.
            if let source = m.source, m.inInterface == Istio.loopbackInterface { return .host(source, .passthrough) }
            if let excluded = m.excludedSource { return excluded }
            if let (_, negated) = m.mark { return negated ? .host(nil, .loopback) : .tproxyMark(.inbound) }
            return m.destinationPort.map { .inboundPort($0, .exclude) } ?? m.inboundPorts(.exclude)
        case (.nat, .istioRedirect, .redirect):
            // Istio 1.8 sent TCP DNS to the agent from here, ahead of the proxy's port.
            return m.dnsProtocol.map { .dns(m.destination?.address, $0) } ?? .handoff(.outbound)
        case (.nat, .istioInRedirect, .redirect), (.mangle, .istioTProxy, .tproxy):
            return .handoff(.inbound)
        case (.nat, .istioOutput, .jump(.istioOutputDNS)), (.raw, .output, .jump(.istioOutputDNS)):
            return .path(.istioOutputDNS)
        case (.nat, .istioOutput, .jump(.istioInRedirect)):
            if let owner = m.owner { return .proxy(owner.owner, group: owner.group, .capture) }
            // Istio 1.3 and 1.4: anyone's calls to the pod's own address over lo went inbound.
            return m.outInterface == Istio.loopbackInterface ? .host(nil, .capture) : nil
        case (.nat, .istioOutput, .jump(.istioRedirect)):
            // Istio before 1.3 sent them to its one proxy port.
            if m.outInterface == Istio.loopbackInterface, m.destination == nil { return .host(nil, .capture) }
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
        case (.raw, .output, .jump(.istioOutput)):
            // Istio 1.23 and 1.24 kept raw's conntrack zones in a chain of that name.
            return .path(.istioOutput)
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
        if let bypass = m.dnsBypass { return bypass }
        if let port = m.destinationPort, let proto = m.portProtocol, !m.portNegated { return .outboundPort(port, proto, .exclude) }
        if let ports = m.outboundPorts(.exclude) { return ports }
        if m.outInterface == Istio.loopbackInterface {
            if let source = m.source { return .host(source, .passthrough) }
            if m.owner?.negated == true { return .host(nil, .loopback) }
        }
        if let owner = m.owner {
            if owner.negated { return .otherGroups(m.negatedGroups) }
            // The proxy's GID also sends its own calls over lo to the inbound port (or, before
            // Istio 1.5, returns beside the UID of its number); an excluded group does neither.
            let isProxy = !owner.group || context.redirected.contains(owner.owner) || context.bypassedUsers.contains(owner.owner)
            return isProxy ? .proxy(owner.owner, group: owner.group, .bypass) : .ownerGroup(owner.owner)
        }
        if let set = m.destinationSet { return .outboundRangeSet(set.family, .exclude) }
        if let destination = m.destination {
            // The host's own address comes first of its family; an excluded range may be loopback too.
            let first = context.firstDestinationReturn[destination.family] == index
            return first && destination.address.isLoopback ? .host(destination, .loopback) : .outboundRange(destination, .exclude)
        }
        return m.isBare ? .outboundOtherRangesLeft : nil
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
        /// No match at all: the rule is for every packet that reaches it.
        var isBare = false

        init(_ rule: Rule) {
            isBare = rule.matches.isEmpty
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

extension Purpose {
    /// Istio's own rules in one built-in chain, without meshcap's comment and not jumps into an
    /// ISTIO chain: shapes only Istio writes there. Its DNS capture in nat OUTPUT (1.9 to 1.22:
    /// port 53 redirected to the agent's port, and the proxy's own port-53 traffic let by, but
    /// those returns only beside such a redirect: Istio 1.7 and 1.8 redirected by DNAT, which
    /// meshcap does not read, and taking their returns alone would send the agent's own queries
    /// back to it), its conntrack zones for DNS in raw (1.11 to 1.24: zones 1 and 2 on ports 53
    /// and 15053), TPROXY's mark plumbing in mangle with Istio's marks. Such a rule is read as
    /// Istio's (verify's rows) and taken over by apply and clean like its jumps. Another
    /// program's DNS redirect (to its own port) or zone stays its own.
    public struct IstiosInBuiltinChain: Sendable {
        let table: TableKind
        let chain: ChainName
        /// Whether the chain redirects DNS to Istio's agent.
        let capturesDNS: Bool

        public init(table: TableKind, chain: ChainName, rules: [Rule]) {
            self.table = table
            self.chain = chain
            capturesDNS = table == .nat && chain == .builtin(.output) && rules.contains(where: Self.redirectsDNSToTheAgent)
        }

        static func redirectsDNSToTheAgent(_ rule: Rule) -> Bool {
            rule.target == .redirect(toPort: Istio.agentDNSPort) && Fields(rule).dnsProtocol != nil
        }

        public func contains(_ rule: Rule) -> Bool {
            let m = Fields(rule)
            switch (table, chain, rule.target) {
            case (.nat, .builtin(.output), .redirect): return Self.redirectsDNSToTheAgent(rule)
            case (.nat, .builtin(.output), .return): return capturesDNS && m.dnsBypass != nil
            case (.raw, .builtin(.prerouting), .conntrackZone(let zone)), (.raw, .builtin(.output), .conntrackZone(let zone)):
                guard zone == Istio.upstreamDNSZone || zone == Istio.clientDNSZone else { return false }
                return rule.matches.contains {
                    switch $0 {
                    case .sourcePort(.udp, let ports, false): ports == [Istio.dnsPort] || ports == [Istio.agentDNSPort]
                    case .destinationPort(.udp, let ports, false): ports == [Istio.dnsPort]
                    default: false
                    }
                }
            case (.mangle, .builtin(.prerouting), .saveMarkToConnection), (.mangle, .builtin(.output), .restoreMarkFromConnection):
                return rule.matches.contains { $0 == .mark(Istio.tproxyMark) || $0 == .connmark(Istio.tproxyMark) }
            case (.mangle, .builtin(.output), .setMark(Istio.outboundMark)): return m.owner != nil
            case (.mangle, .builtin(.output), .return):
                return m.mark.map { $0.0 == Istio.tproxyMark && !$0.negated } == true && m.outInterface == Istio.loopbackInterface
            default: return false
            }
        }
    }
}

extension Purpose.Fields {
    /// The proxy's own DNS queries (port 53 from its user or group) let by, past the DNS capture
    /// that follows (Istio 1.6 to 1.24): a bypass of the proxy's, not an excluded port.
    var dnsBypass: Purpose? {
        guard dnsProtocol != nil, let owner, !owner.negated, !portNegated else { return nil }
        return .proxy(owner.owner, group: owner.group, .bypass)
    }

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
