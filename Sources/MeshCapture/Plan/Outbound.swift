extension CapturePlan {
    /// nat ISTIO_OUTPUT: what leaves a local socket, top to bottom.
    @ChainBuilder var outputChain: [ChainEntry] {
        // Port exclusions come first, before connections back to this host are redirected.
        let excluded = [L4Protocol.tcp, .udp].map { proto in
            portGroups(config.outboundPortsExclude, proto, .outbound, .exclude, set: "outbound-exclude-ports-\(proto.rawValue)")
        }
        // Istio's order: each port's TCP rule, then its UDP rule.
        for (tcp, udp) in zip(excluded[0], excluded[1]) {
            Rule(matches: [tcp.match], target: .return, purpose: tcp.purpose)
            Rule(matches: [udp.match], target: .return, purpose: udp.purpose)
        }
        // Envoy's inbound passthrough to the app.
        for source in Istio.passthroughSources {
            Rule(.outInterface(Istio.loopbackInterface), .source(source), then: .return).for(.host(source, .passthrough))
        }
        for user in config.proxyUsers {
            proxyOwnerRules(.socketUser(user), .socketUser(user, negated: true), skipDNS: config.capturesDNS, purpose: { .proxy(user, group: false, $0) })
        }
        // Istio never skips port 53 for the proxy's groups; kept so its rules stay identical.
        for group in config.proxyGroups {
            proxyOwnerRules(.socketGroup(group), .socketGroup(group, negated: true), skipDNS: false, purpose: { .proxy(group, group: true, $0) })
        }
        switch config.outboundOwnerGroups {
        case .all:
            for group in config.outboundOwnerGroupsExclude { Rule(.socketGroup(group), then: .return).for(.ownerGroup(group)) }
        case .only(let groups):
            Rule(matches: groups.map { .socketGroup($0, negated: true) }, target: .return, purpose: .otherGroups(groups))
        case .none:
            []
        }
        if config.capturesDNS { Rule(then: .jump(.istioOutputDNS)).for(.path(.istioOutputDNS)) }
        // Apps that talk to localhost on purpose (Envoy-aware clients, sidecar-to-sidecar).
        for host in loopbacks { Rule(.destination(host), then: .return).for(.host(host, .loopback)) }
        rangeRules(config.outboundRangesExclude, .exclude, then: .return)
        for group in portGroups(config.outboundPortsInclude, .tcp, .outbound, .capture, set: "outbound-include-ports") {
            Rule(matches: [group.match], target: .jump(.istioRedirect), purpose: group.purpose)
        }
        switch config.outboundRanges {
        case .none:
            []
        case .all:
            Rule(then: .jump(.istioRedirect)).for(.outboundOtherRanges)
        case .only(let prefixes):
            rangeRules(prefixes, .capture, then: .jump(.istioRedirect))
        }
    }

    /// A destination CIDR list of ISTIO_OUTPUT, sharing one target.
    @ChainBuilder func rangeRules(_ prefixes: [Prefix], _ action: Purpose.Action, then target: Target) -> [ChainEntry] {
        prefixList(prefixes, set: "outbound-\(action == .capture ? "include" : "exclude")",
                   each: { Rule(.destination($0), then: target).for(.outboundRange($0, action)) },
                   lookup: { Rule(.destinationSet($0), then: target).for(.outboundRangeSet($0.family, action)) })
    }

    /// A CIDR list, IPv4 first: a rule per prefix, or (nftables, when the list layout says so)
    /// one lookup of the family's interval set, `NAME-ipv4` or `NAME-ipv6`. The prefixes of a
    /// list share one target, so a set in place of the run of rules sends every packet where the
    /// rules would.
    @ChainBuilder func prefixList(_ prefixes: [Prefix], set name: String, each: (Prefix) -> Rule, lookup: (PrefixSet) -> Rule) -> [ChainEntry] {
        for family in Family.allCases {
            let listed = prefixes.filter { $0.family == family }
            if usesSets && config.listLayout.usesSet(for: listed.count) {
                lookup(PrefixSet(name: "\(name)-\(family.rawValue)", family: family, prefixes: listed))
            } else {
                for prefix in listed { each(prefix) }
            }
        }
    }

    /// For one proxy UID or GID: an app calling itself through a service VIP goes
    /// app → Envoy outbound → (lo) → Envoy inbound → app, so the proxy's own loopback traffic to
    /// a non-loopback address is sent to the inbound port; other loopback traffic of apps is
    /// left alone; and everything else the proxy sends is never captured again.
    @ChainBuilder func proxyOwnerRules(_ owner: Match, _ notOwner: Match, skipDNS: Bool,
                                       purpose: (Purpose.Action) -> Purpose) -> [ChainEntry] {
        let lo = Match.outInterface(Istio.loopbackInterface)
        let unredirected = skipDNS ? [Istio.dnsPort, config.inboundTunnelPort] : [config.inboundTunnelPort]
        for host in loopbacks {
            Rule(lo, .l4proto(.tcp), .destination(host, negated: true),
                 .destinationPort(.tcp, unredirected, negated: true), owner, then: .jump(.istioInRedirect)).for(purpose(.capture))
        }
        // Unless the include list names a loopback address: then such traffic is captured.
        if !config.outboundRanges.listed.contains(where: \.address.isLoopback) {
            if config.capturesDNS {
                // Keep TCP DNS to a resolver on localhost capturable.
                Rule(lo, .l4proto(.tcp), .destinationPort(.tcp, [Istio.dnsPort], negated: true), notOwner, then: .return).for(.host(nil, .loopback))
            } else {
                Rule(lo, notOwner, then: .return).for(.host(nil, .loopback))
            }
        }
        Rule(owner, then: .return).for(purpose(.bypass))
    }
}

extension CapturePlan {
    /// What the reader of the CIDR lists should know, one sentence each: included ranges that
    /// excluded ones cut into (exclusions come first in ISTIO_OUTPUT, as in Istio, so the
    /// excluded part is not captured), and, where a layout writes sets, prefixes a set holds as
    /// one element.
    public func listNotes(for layout: Layout) -> [String] {
        var notes: [String] = []
        for included in config.outboundRanges.listed {
            let inside = config.outboundRangesExclude.filter { included.contains($0) && $0 != included }
            if !inside.isEmpty {
                let named = inside.prefix(3).map(\.description).joined(separator: ", ") + (inside.count > 3 ? " and \(inside.count - 3) more" : "")
                let what = inside.count == 1 ? "\(inside[0]) inside it: exclusions are checked first, so that part is"
                    : "\(inside.count) prefixes inside it (\(named)): exclusions are checked first, so those are"
                notes.append("OUTBOUND_IPRANGES_INCLUDE has \(included), and OUTBOUND_IPRANGES_EXCLUDE has \(what) not captured")
            }
            if let whole = config.outboundRangesExclude.first(where: { $0.contains(included) }) {
                notes.append("OUTBOUND_IPRANGES_INCLUDE has \(included), and OUTBOUND_IPRANGES_EXCLUDE has \(whole), which holds all of it: exclusions are checked first, so nothing of \(included) is captured")
            }
        }
        guard layout == .inet else { return notes }
        let lists: [(String, [Prefix])] = [("OUTBOUND_IPRANGES_EXCLUDE", config.outboundRangesExclude),
                                           ("OUTBOUND_IPRANGES_INCLUDE", config.outboundRanges.listed)]
        for (key, prefixes) in lists {
            for family in config.families.sorted() {
                let listed = prefixes.filter { $0.family == family }
                guard config.listLayout.usesSet(for: listed.count) else { continue }
                notes += Aggregation(listed).merges.map { "\(key): \($0)" }
            }
        }
        return notes
    }
}
