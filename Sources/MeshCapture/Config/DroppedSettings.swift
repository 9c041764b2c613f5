/// Parts of the input that write no rule, each said as a warning with where it was set: a user
/// who wrote them believes they did something. A dual-stack ISTIO_SERVICE_CIDR on a VM without
/// ENABLE_INBOUND_IPV6 loses its IPv6 half; an exclusion that only applies to `*` excludes
/// nothing; a range inside another adds nothing, and a captured range inside an excluded one is
/// never captured.
enum DroppedSettings {
    /// At most this many items are named per sentence; the rest are counted.
    static let named = 5

    /// - Parameter given: the winning setting of a key, when one was given.
    static func warnings(_ config: InterceptConfig, given: (String) -> Setting?) -> [String] {
        var warnings: [String] = []
        func say(_ key: String, _ sentence: String) {
            let where_ = given(key).map { " (\($0.origin))" } ?? ""
            warnings.append("\(key)\(where_) \(sentence)")
        }
        if !config.inboundPortsExclude.isEmpty && config.inboundPorts != .all {
            say("INBOUND_PORTS_EXCLUDE", "writes no rule: it only applies when INBOUND_PORTS_INCLUDE is * (the inbound ports captured are listed, or none)")
        }
        if !config.outboundOwnerGroupsExclude.isEmpty && config.outboundOwnerGroups != .all {
            say("OUTBOUND_OWNER_GROUPS_EXCLUDE", "writes no rule: it only applies when OUTBOUND_OWNER_GROUPS_INCLUDE is *")
        }
        if config.logGroup != nil, case .some(nil) = config.logPrefix {
            say("MESHCAP_LOG_GROUP", "writes no rule: MESHCAP_LOG is false")
        }
        if !config.inboundRangesExclude.isEmpty && config.inboundPorts == .none {
            say("INBOUND_IPRANGES_EXCLUDE", "writes no rule: no inbound port is captured (INBOUND_PORTS_INCLUDE is empty)")
        }
        if !config.ipv6 {
            let lists: [(String, [CustomStringConvertible])] = [
                ("OUTBOUND_IPRANGES_INCLUDE", config.outboundRanges.listed.filter { $0.family == .ipv6 }),
                ("OUTBOUND_IPRANGES_EXCLUDE", config.outboundRangesExclude.filter { $0.family == .ipv6 }),
                ("DNS_SERVERS_V6", config.dnsServersV6),
            ]
            // What resolv.conf filled in is said with it ("filled in: DNS_SERVERS_V6=..."): only
            // what somebody wrote is warned about.
            for (key, dropped) in lists where !dropped.isEmpty && given(key) != nil {
                say(key, "has IPv6 addresses, and ENABLE_INBOUND_IPV6 is false: no rule is written for \(list(dropped)) (ENABLE_INBOUND_IPV6=true, or --ipv6, writes them)")
            }
        }
        for (key, prefixes) in [("OUTBOUND_IPRANGES_INCLUDE", config.outboundRanges.listed), ("OUTBOUND_IPRANGES_EXCLUDE", config.outboundRangesExclude)] {
            let inside = nested(prefixes)
            if !inside.isEmpty {
                say(key, "lists ranges inside others it lists, which add nothing: \(list(inside.map { "\($0.inner) within \($0.outer)" }))")
            }
        }
        let neverCaptured = nested(config.outboundRanges.listed, within: config.outboundRangesExclude)
        if !neverCaptured.isEmpty {
            say("OUTBOUND_IPRANGES_INCLUDE", "lists ranges that OUTBOUND_IPRANGES_EXCLUDE (checked first) excludes whole, so they are never captured: \(list(neverCaptured.map { "\($0.inner) within \($0.outer)" }))")
        }
        return warnings
    }

    static func list(_ items: [CustomStringConvertible]) -> String {
        let shown = items.prefix(named).map(\.description).joined(separator: ", ")
        return items.count > named ? "\(shown) and \(items.count - named) more" : shown
    }

    /// The prefixes of `items` that lie inside another prefix, of `covers` when given, else of
    /// `items` itself, with one that holds each. Sorted by address then length, a prefix lies in
    /// an earlier one exactly when it lies in the last one not inside another (prefixes nest or
    /// are apart): one pass after the sort, so 10,000 ranges cost what sorting them costs.
    static func nested(_ items: [Prefix], within covers: [Prefix]? = nil) -> [(inner: Prefix, outer: Prefix)] {
        // Tagged: a cover sorts before an equal item, so an item equal to a cover lies in it.
        let tagged = (covers.map { $0.map { ($0, true) } } ?? []) + items.map { ($0, covers == nil) }
        var found: [(inner: Prefix, outer: Prefix)] = []
        var outer: Prefix?
        for (prefix, isCover) in tagged.sorted(by: { ($0.0, $0.1 ? 0 : 1) < ($1.0, $1.1 ? 0 : 1) }) {
            if let current = outer, current.contains(prefix), current != prefix || !isCover {
                if covers == nil || !isCover { found.append((prefix, current)) }
            } else if isCover {
                outer = prefix
            }
        }
        return found.sorted { $0.inner < $1.inner }
    }
}
