/// Everything Istio's capture does for a config, as tables and chains.
///
/// The plan is built for a layout because Istio's two backends differ in a few places, and
/// meshcap reproduces each: positions (see `ChainEntry`), per-family jumps (pruned where empty,
/// see `RulesetDeclaration.resolve`), and the one policy difference noted in `mangleTable`.
public struct CapturePlan: Sendable {
    public let config: InterceptConfig
    /// Whether the layout being planned has sets (nftables) for long CIDR lists.
    private(set) var usesSets = false

    public init(_ config: InterceptConfig) {
        self.config = config
    }

    /// What apply programs for `layout`: nothing for an iptables family the config leaves off
    /// (no ip6tables rules without IPv6); the layout's ruleset otherwise.
    public func programmed(_ layout: Layout) -> Ruleset {
        if case .xtables(let family) = layout, !config.families.contains(family) { return Ruleset(layout: layout, tables: []) }
        return ruleset(for: layout)
    }

    public func ruleset(for layout: Layout) -> Ruleset {
        var plan = self
        plan.usesSets = layout == .inet
        let ruleset = plan.declaration(for: layout).resolve(for: layout, families: config.families)
        guard let logging = config.logging else { return ruleset }
        return ruleset.logged(prefix: logging.prefix, group: logging.group)
    }

    func declaration(for layout: Layout) -> RulesetDeclaration {
        RulesetDeclaration {
            natTable
            mangleTable(layout)
            rawTable
        }
    }

    /// What routing the rules need, as Istio's `tproxy.ConfigureRoutes` sets it up beside them:
    /// TPROXY's mark routed to a local-only table (when inbound is captured), and ::6 on lo for
    /// IPv6 inbound passthrough.
    public var routing: [RoutingEntry] {
        var entries: [RoutingEntry] = []
        if tproxy && capturesInbound {
            for family in config.families.sorted() {
                entries += [.markRule(family, mark: config.tproxyMark, table: config.tproxyRouteTable),
                            .localDefault(family, table: config.tproxyRouteTable)]
            }
        }
        if config.ipv6, let passthrough = Istio.passthroughSources.first(where: { $0.family == .ipv6 }) {
            entries.append(.loopbackAddress(passthrough))
        }
        return entries
    }

    var tproxy: Bool { config.interceptionMode == .tproxy }
    var capturesInbound: Bool { !config.inboundPorts.isNone }
    var loopbacks: [Prefix] { [config.hostIPv4Loopback, Istio.ipv6Loopback] }
    var dnsServers: [Prefix] { (config.dnsServersV4 + config.dnsServersV6).map(Prefix.init(host:)) }

    var natTable: TableDeclaration {
        table(.nat) {
            chain(.prerouting) {
                for interface in config.excludeInterfaces { Rule(.inInterface(interface), then: .return).for(.interface(interface, .inbound, .exclude)) }
                for interface in config.kubeVirtInterfaces {
                    Rule(.inInterface(interface), then: .return).for(.interface(interface, .inbound, .exclude)).inserted(at: 0)
                }
                if capturesInbound && !tproxy { Rule(.l4proto(.tcp), then: .jump(.istioInbound)).for(.entry(.inbound)) }
                virtualInterfaceRedirects
            }
            chain(.output) {
                for interface in config.excludeInterfaces { Rule(.outInterface(interface), then: .return).for(.interface(interface, .outbound, .exclude)) }
                Rule(then: .jump(.istioOutput)).for(.entry(.outbound))
            }
            chain(.istioInbound) {
                Rule(.l4proto(.tcp), .destinationPort(.tcp, [config.inboundTunnelPort]), then: .return).for(.inboundPort(config.inboundTunnelPort, .tunnel))
                if !tproxy { inboundCapture(new: .jump(.istioInRedirect)) }
            }
            chain(.istioRedirect) { Rule(.l4proto(.tcp), then: .redirect(toPort: config.proxyPort)).for(.handoff(.outbound)) }
            chain(.istioInRedirect) { Rule(.l4proto(.tcp), then: .redirect(toPort: config.inboundCapturePort)).for(.handoff(.inbound)) }
            chain(.istioOutput) { outputChain }
            chain(.istioOutputDNS) {
                if config.capturesDNS {
                    for proto in [L4Protocol.tcp, .udp] {
                        if config.captureAllDNS {
                            Rule(.destinationPort(proto, [Istio.dnsPort]), then: .redirect(toPort: Istio.agentDNSPort)).for(.dns(nil, proto))
                        } else {
                            for server in dnsServers {
                                Rule(.destination(server), .destinationPort(proto, [Istio.dnsPort]),
                                     then: .redirect(toPort: Istio.agentDNSPort)).for(.dns(server.address, proto))
                            }
                        }
                    }
                }
            }
        }
    }

    /// Traffic arriving on a KubeVirt interface comes from the VM's own workload: send the
    /// included destinations to the outbound proxy. Istio inserts each at the head.
    @ChainBuilder var virtualInterfaceRedirects: [ChainEntry] {
        switch config.outboundRanges {
        case .none:
            []
        case .all:
            for interface in config.kubeVirtInterfaces {
                Rule(.inInterface(interface), then: .jump(.istioRedirect)).for(.interface(interface, .outbound, .capture)).inserted(at: 0)
            }
        case .only(let prefixes):
            for family in Family.allCases {
                let listed = prefixes.filter { $0.family == family }
                // A set of their own, so that its elements count the guests' traffic apart from
                // the host's own (`outbound-include-*`).
                let destinations: [Match] = usesSets && config.listLayout.usesSet(for: listed.count)
                    ? [.destinationSet(PrefixSet(name: "kubevirt-include-\(family.rawValue)", family: family, prefixes: listed))]
                    : listed.map { .destination($0) }
                for destination in destinations {
                    for interface in config.kubeVirtInterfaces {
                        Rule(.inInterface(interface), destination, then: .jump(.istioRedirect))
                            .for(.interface(interface, .outbound, .capture)).inserted(at: 0)
                    }
                }
            }
        }
    }

    /// Whether a TCP connection to this host's `port` is sent to the proxy, by the same selection
    /// `inboundCapture` turns into rules (what `doctor` asks of the SSH port).
    public func capturesInbound(port: Port) -> Bool {
        // The tunnel port's RETURN comes first in ISTIO_INBOUND.
        guard port != config.inboundTunnelPort else { return false }
        return switch config.inboundPorts {
        case .none: false
        case .all: !config.inboundPortsExclude.contains(port)
        case .only(let ports): ports.contains(port)
        }
    }

    /// The inbound port selection, ending in `new` for connections to capture; the sources
    /// INBOUND_IPRANGES_EXCLUDE names are let through first, whatever their port. An IPv6 source
    /// stays excluded without ENABLE_INBOUND_IPV6: the inet tables' family-less rules capture
    /// IPv6 inbound all the same (iptables then writes no IPv6 rules at all).
    @ChainBuilder func inboundCapture(new: Target) -> [ChainEntry] {
        if !config.inboundPorts.isNone {
            prefixList(config.inboundRangesExclude, set: "inbound-exclude-sources",
                       each: { Rule(.l4proto(.tcp), .source($0), then: .return).for(.inboundSource($0)) },
                       lookup: { Rule(.l4proto(.tcp), .sourceSet($0), then: .return).for(.inboundSourceSet($0.family)) })
                .map { $0.rule.forEveryFamily() }
        }
        switch config.inboundPorts {
        case .none:
            []
        case .all:
            for group in portGroups(config.inboundPortsExclude, .tcp, .inbound, .exclude, set: "inbound-exclude-ports") {
                Rule(matches: [.l4proto(.tcp), group.match], target: .return, purpose: group.purpose)
            }
            // With TPROXY a port's packets are its diverted established ones plus its new ones:
            // both rules count for the port.
            if tproxy {
                Rule(.l4proto(.tcp), .conntrackState([.established, .related]), then: .jump(.istioDivert)).for(.inboundOtherPorts)
            }
            Rule(.l4proto(.tcp), then: new).for(.inboundOtherPorts)
        case .only(let ports):
            for group in portGroups(ports, .tcp, .inbound, .capture, set: "inbound-include-ports") {
                if tproxy {
                    Rule(matches: [.l4proto(.tcp), .conntrackState([.established, .related]), group.match], target: .jump(.istioDivert), purpose: group.purpose)
                }
                Rule(matches: [.l4proto(.tcp), group.match], target: new, purpose: group.purpose)
            }
        }
    }

    /// How a port list is matched: a rule per port (Istio's layout, and every short list); for a
    /// long one, a set's lookup in nftables, or multiport rules of at most 15 ports in iptables
    /// (the most one `-m multiport` takes). The ports of a list share a verdict and never
    /// overlap, so grouping them changes where no packet goes.
    func portGroups(_ ports: [Port], _ proto: L4Protocol, _ direction: Purpose.Direction, _ action: Purpose.Action,
                    set name: String) -> [(match: Match, purpose: Purpose)] {
        func single(_ port: Port) -> Purpose {
            direction == .inbound ? .inboundPort(port, action) : .outboundPort(port, proto, action)
        }
        guard config.listLayout.usesSet(for: ports.count) else { return ports.map { (.destinationPort(proto, [$0]), single($0)) } }
        if usesSets {
            let purpose: Purpose = direction == .inbound ? .inboundPortSet(action) : .outboundPortSet(proto, action)
            return [(.destinationPortSet(proto, PortSet(name: name, ports: ports)), purpose)]
        }
        return stride(from: 0, to: ports.count, by: 15).map { start in
            let chunk = Array(ports[start..<min(start + 15, ports.count)])
            return (.destinationPort(proto, chunk), chunk.count == 1 ? single(chunk[0]) : .portGroup(direction, chunk, proto, action))
        }
    }
}
