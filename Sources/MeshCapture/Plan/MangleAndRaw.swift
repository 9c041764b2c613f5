extension CapturePlan {
    /// TPROXY inbound capture, the INVALID drop, and the marks that route Envoy's traffic back.
    func mangleTable(_ layout: Layout) -> TableDeclaration {
        let mark = config.tproxyMark
        let lo = Istio.loopbackInterface
        return table(.mangle) {
            chain(.prerouting) {
                if tproxy {
                    for interface in config.excludeInterfaces { Rule(.inInterface(interface), then: .return).for(.interface(interface, .inbound, .exclude)) }
                }
                if config.dropInvalid {
                    // The one place Istio's backends disagree on policy: its nftables backend drops
                    // only INVALID TCP, its iptables backend every INVALID packet. Each is kept.
                    if layout == .inet {
                        Rule(.l4proto(.tcp), .conntrackState([.invalid]), then: .jump(.istioDrop)).for(.invalid)
                    } else {
                        Rule(.conntrackState([.invalid]), then: .jump(.istioDrop)).for(.invalid)
                    }
                }
                if tproxy && capturesInbound { Rule(.l4proto(.tcp), then: .jump(.istioInbound)).for(.entry(.inbound)) }
                // Save the mark Envoy's original_src listener sets, so replies find their way back.
                if tproxy { Rule(.l4proto(.tcp), .mark(mark), then: .saveMarkToConnection).for(.tproxyMark(.inbound)) }
            }
            chain(.output) {
                if tproxy {
                    for interface in config.excludeInterfaces { Rule(.outInterface(interface), then: .return).for(.interface(interface, .outbound, .exclude)) }
                    Rule(.outInterface(lo), .l4proto(.tcp), .mark(mark), then: .return).for(.tproxyMark(.outbound))
                    for owner in config.proxyUsers.map({ Match.socketUser($0) }) + config.proxyGroups.map({ Match.socketGroup($0) }) {
                        for host in loopbacks {
                            Rule(.outInterface(lo), .l4proto(.tcp), .destination(host, negated: true), owner,
                                 then: .setMark(Istio.outboundMark)).for(.tproxyMark(.outbound))
                        }
                    }
                    Rule(.l4proto(.tcp), .connmark(mark), then: .restoreMarkFromConnection).for(.tproxyMark(.outbound))
                }
            }
            chain(.istioDivert) {
                if tproxy && capturesInbound {
                    Rule(then: .setMark(mark)).for(.path(.istioDivert))
                    Rule(then: .accept).for(.path(.istioDivert))
                }
            }
            chain(.istioTProxy) {
                if tproxy && capturesInbound {
                    for host in loopbacks {
                        Rule(.l4proto(.tcp), .destination(host, negated: true),
                             then: .tproxy(toPort: config.inboundCapturePort, mark: mark)).for(.handoff(.inbound))
                    }
                }
            }
            chain(.istioInbound) {
                if tproxy {
                    inboundCapture(new: .jump(.istioTProxy))
                    // Istio inserts these last, at the head: already-diverted packets, Envoy's
                    // passthrough to the app, and the app calling itself by pod IP.
                    Rule(.l4proto(.tcp), .mark(mark), then: .return).for(.tproxyMark(.inbound)).inserted(at: 0)
                    for source in Istio.passthroughSources {
                        Rule(.inInterface(lo), .l4proto(.tcp), .source(source), then: .return).for(.host(source, .passthrough)).inserted(at: 1)
                    }
                    Rule(.inInterface(lo), .l4proto(.tcp), .mark(Istio.outboundMark, negated: true), then: .return)
                        .for(.host(nil, .loopback)).inserted(at: 2)
                }
            }
            chain(.istioDrop) {
                if config.dropInvalid { Rule(then: .drop).for(.path(.istioDrop)) }
            }
        }
    }

    /// DNS conntrack zones (raw runs before conntrack, so the zone is set before lookup).
    var rawTable: TableDeclaration {
        let dns = config.capturesDNS
        let all = config.captureAllDNS
        return table(.raw) {
            chain(.prerouting) {
                if dns { Rule(then: .jump(.istioInbound)).for(.path(.istioInbound)) }
            }
            chain(.output) {
                if dns { Rule(then: .jump(.istioOutputDNS)).for(.path(.istioOutputDNS)) }
            }
            chain(.istioInbound) {
                if dns {
                    if all {
                        Rule(.sourcePort(.udp, [Istio.dnsPort]), then: .conntrackZone(Istio.upstreamDNSZone)).for(.dnsZone(Istio.upstreamDNSZone))
                    } else {
                        for server in dnsServers {
                            Rule(.sourcePort(.udp, [Istio.dnsPort]), .source(server), then: .conntrackZone(Istio.upstreamDNSZone))
                                .for(.dnsZone(Istio.upstreamDNSZone))
                        }
                    }
                }
            }
            chain(.istioOutputDNS) {
                if dns {
                    for owner in config.proxyUsers.map({ Match.socketUser($0) }) + config.proxyGroups.map({ Match.socketGroup($0) }) {
                        Rule(.destinationPort(.udp, [Istio.dnsPort]), owner, then: .conntrackZone(Istio.upstreamDNSZone)).for(.dnsZone(Istio.upstreamDNSZone))
                        Rule(.sourcePort(.udp, [Istio.agentDNSPort]), owner, then: .conntrackZone(Istio.clientDNSZone)).for(.dnsZone(Istio.clientDNSZone))
                    }
                    if all {
                        Rule(.destinationPort(.udp, [Istio.dnsPort]), then: .conntrackZone(Istio.clientDNSZone)).for(.dnsZone(Istio.clientDNSZone))
                    } else {
                        for server in dnsServers {
                            Rule(.destinationPort(.udp, [Istio.dnsPort]), .destination(server), then: .conntrackZone(Istio.clientDNSZone))
                                .for(.dnsZone(Istio.clientDNSZone))
                        }
                    }
                }
            }
        }
    }
}
