/// A config written down as KEY=VALUE lines that load back into the very same `InterceptConfig`:
/// what `apply` records as the config it put in force, so that `verify`, `diff` and a plain
/// `apply` later compare against (or complete) exactly that, whatever the files say by then.
///
/// Every rule-shaping value is written, defaults included, and what Istio fills in from the host
/// is written as filled in (PROXY_UID as the number ENVOY_USER's account had, the DNS servers
/// resolv.conf named, ENABLE_INBOUND_IPV6 as decided): read back on a host whose files have
/// changed since, the record still means what was applied.
extension InterceptConfig {
    public var record: [(key: String, value: String)] {
        func list<T: CustomStringConvertible>(_ items: [T]) -> String { items.map(\.description).joined(separator: ",") }
        func selection<T: CustomStringConvertible>(_ items: Selection<T>) -> String {
            switch items {
            case .none: ""
            case .all: "*"
            case .only(let listed): list(listed)
            }
        }
        var lines: [(String, String)] = [
            ("PROXY_PORT", String(proxyPort)),
            ("INBOUND_CAPTURE_PORT", String(inboundCapturePort)),
            ("INBOUND_TUNNEL_PORT", String(inboundTunnelPort)),
            ("PROXY_UID", list(proxyUsers)),
        ]
        if let groups = proxyGroupsSetting { lines.append(("PROXY_GID", list(groups))) }
        lines += [
            ("INBOUND_INTERCEPTION_MODE", interceptionMode.rawValue),
            ("INBOUND_TPROXY_MARK", String(tproxyMark)),
            ("INBOUND_TPROXY_ROUTE_TABLE", String(tproxyRouteTable)),
            ("INBOUND_PORTS_INCLUDE", selection(inboundPorts)),
            ("INBOUND_PORTS_EXCLUDE", list(inboundPortsExclude)),
            ("INBOUND_IPRANGES_EXCLUDE", list(inboundRangesExclude)),
            ("OUTBOUND_OWNER_GROUPS_INCLUDE", selection(outboundOwnerGroups)),
            ("OUTBOUND_OWNER_GROUPS_EXCLUDE", list(outboundOwnerGroupsExclude)),
            ("OUTBOUND_PORTS_INCLUDE", list(outboundPortsInclude)),
            ("OUTBOUND_PORTS_EXCLUDE", list(outboundPortsExclude)),
            ("OUTBOUND_IPRANGES_INCLUDE", selection(outboundRanges)),
            ("OUTBOUND_IPRANGES_EXCLUDE", list(outboundRangesExclude)),
            ("KUBE_VIRT_INTERFACES", list(kubeVirtInterfaces)),
            ("EXCLUDE_INTERFACES", list(excludeInterfaces)),
            ("REDIRECT_DNS", String(redirectDNS)),
            ("CAPTURE_ALL_DNS", String(captureAllDNS)),
            ("DROP_INVALID", String(dropInvalid)),
            ("ENABLE_INBOUND_IPV6", String(ipv6)),
            // Both given, even empty: a list given empty is an answer, so resolv.conf is not read again.
            ("DNS_SERVERS_V4", list(dnsServersV4)),
            ("DNS_SERVERS_V6", list(dnsServersV6)),
            ("HOST_IPV4_LOOPBACK_CIDR", hostIPv4Loopback.description),
            ("MESHCAP_LIST_LAYOUT", listLayout.rawValue),
        ]
        switch logPrefix {
        case .some(let prefix?): lines.append(("MESHCAP_LOG", prefix))
        case .some(nil): lines.append(("MESHCAP_LOG", "false"))
        case nil: break
        }
        if let logGroup { lines.append(("MESHCAP_LOG_GROUP", String(logGroup))) }
        return lines
    }
}

extension EnvFile {
    /// `KEY='value'`: single quotes, as istioctl writes cluster.env; a quote inside is written as
    /// the shell reads it (`'it'"'"'s'`), which `parse` reads back.
    public static func assignment(_ key: String, _ value: String) -> String {
        // A CIDR list has no quote: String.replacing over 10,000 prefixes cost an apply 4.7 ms.
        let quoted = value.utf8.contains(UInt8(ascii: "'")) ? value.replacing("'", with: #"'"'"'"#) : value
        return "\(key)='\(quoted)'"
    }
}
