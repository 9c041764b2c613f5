extension CapturePlan {
    /// nat ISTIO_OUTPUT: what leaves a local socket, top to bottom.
    @ChainBuilder var outputChain: [ChainEntry] {
        // Port exclusions come first, before connections back to this host are redirected.
        for port in config.outboundPortsExclude {
            Rule(.destinationPort(.tcp, [port]), then: .return).for(.outboundPort(port, .tcp, .exclude))
            Rule(.destinationPort(.udp, [port]), then: .return).for(.outboundPort(port, .udp, .exclude))
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
        for prefix in config.outboundRangesExclude.ipv4First { Rule(.destination(prefix), then: .return).for(.outboundRange(prefix, .exclude)) }
        for port in config.outboundPortsInclude {
            Rule(.destinationPort(.tcp, [port]), then: .jump(.istioRedirect)).for(.outboundPort(port, .tcp, .capture))
        }
        switch config.outboundRanges {
        case .none:
            []
        case .all:
            Rule(then: .jump(.istioRedirect)).for(.outboundOtherRanges)
        case .only(let prefixes):
            for prefix in prefixes.ipv4First { Rule(.destination(prefix), then: .jump(.istioRedirect)).for(.outboundRange(prefix, .capture)) }
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
