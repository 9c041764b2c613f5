import MeshCapture

/// What `verify` says: packets per port, range, owner and the rest, totals per direction, and
/// verdicts. Built from a reading and, when given, the config the rules should be: then each
/// live rule is matched to the config's and counts for what the plan says it is for, and what
/// does not match is drift. Without a config, what each rule is for is recognised from where it
/// sits (`Purpose.recognised`).
///
/// `JSONReport` writes it as JSON, versioned by `schema`.
public struct VerifyReport: Sendable {
    public static let currentSchema = "meshcap.verify/v1"

    /// Packets meshcap's rules looked at in a direction, and how many went to the proxy.
    public struct Total: Sendable, Hashable {
        public let direction: Purpose.Direction
        /// Through the hook's jump into meshcap's chains (nat: the first packet of each connection).
        public let seen: UInt64
        /// Through the REDIRECT or TPROXY rules.
        public let captured: UInt64
        /// Whether the jumps and the capture rules count at all (see `ObservedRule.counted`).
        public let counted: Bool
    }

    /// Another program's rule in a chain meshcap's rules are in.
    public struct OtherRule: Sendable, Hashable {
        public let table: String
        public let chain: String
        public let rule: String
        public let packets: UInt64
        public let bytes: UInt64
        public let counted: Bool
    }

    public let schema: String
    public let source: String
    /// Whether a config was given (rows from the plan, drift checked) or rows were recognised.
    public let againstConfig: Bool
    public let rows: [CounterRow]
    public let totals: [Total]
    public private(set) var verdicts: [Verdict]
    public let others: [OtherRule]
    /// What is worth knowing but proves nothing broken (another nft chain at the same hook whose
    /// counters meshcap does not read; a live rule it cannot place).
    public private(set) var notes: [String]
    /// With `--probe`: each path tried and what became of it.
    public private(set) var probes: [ProbeResult] = []

    public var healthy: Bool { verdicts.isEmpty }

    public init(_ reading: CounterReading, desired: DesiredState?) {
        // Rows in the order the rules run, and where each is: one lookup per rule or set element.
        var rows: [CounterRow] = [], rowIndex: [CounterRow.Key: Int] = [:]
        let elementCount = reading.rules.reduce(0) { $0 + $1.elements.count }
        rows.reserveCapacity(elementCount + reading.rules.count)
        rowIndex.reserveCapacity(elementCount + reading.rules.count)
        // Through the hooks' jumps, and to the proxy, per direction.
        var seen: [Purpose.Direction: UInt64] = [:], captured: [Purpose.Direction: UInt64] = [:]
        // Per layout and direction: the hook's jump, and chains only it leads to (captured
        // inbound ports; ISTIO_OUTPUT).
        var entered = Set<Entry>(), needEntry = Set<Entry>()
        // nat ISTIO_OUTPUT: whether it sends anything to ISTIO_REDIRECT, the packets it sent
        // there, and those it ended elsewhere (returns, the proxy's own calls, DNS to the agent).
        var capturesOutbound = false, handedOver: UInt64 = 0, endedElsewhere: UInt64 = 0
        // Envoy's own connections to the workload over lo (OUTPUT → ISTIO_IN_REDIRECT): counted by
        // the inbound REDIRECT too, but no inbound connection.
        var hairpin: UInt64 = 0
        // Istio before 1.0: PREROUTING → ISTIO_REDIRECT, so its REDIRECT to 15001 counts inbound
        // connections as well as what ISTIO_OUTPUT handed over.
        var inboundThroughRedirect = false
        // Directions whose totals take a rule without a counter; how many of meshcap's rules have none.
        var uncountedDirections = Set<Purpose.Direction>(), uncountedRules = 0
        var notes = reading.notes
        // Sets whose elements made rows already, by table and name.
        var expandedSets = Set<String>()

        let comparison = Comparison(reading, desired: desired)
        for place in comparison.places {
            for (observed, purpose) in zip(place.rules, place.purposes) {
                // Made only when said: an nft rule's text is rendered on demand.
                guard let rule = observed.rule, let purpose else {
                    notes.append("\(reading.source) \(observed.table) \(observed.chain): `\(observed.text)` is in meshcap's chains but not a rule meshcap writes there")
                    continue
                }
                if !observed.counted { uncountedRules += 1 }
                switch purpose {
                case .entry(let direction):
                    entered.insert(Entry(layout: place.layout, direction: direction))
                    if direction == .inbound, rule.target == .jump(.istioRedirect) { inboundThroughRedirect = true }
                    seen[direction, default: 0].add(observed.packets)
                    if !observed.counted { uncountedDirections.insert(direction) }
                case .handoff(let direction):
                    captured[direction, default: 0].add(observed.packets)
                    if !observed.counted { uncountedDirections.insert(direction) }
                case .inboundPort(_, .capture), .inboundOtherPorts, .inboundPortSet(.capture), .portGroup(.inbound, _, _, .capture):
                    needEntry.insert(Entry(layout: place.layout, direction: .inbound))
                default:
                    break
                }
                if place.table == .nat && place.chain == .istioOutput {
                    needEntry.insert(Entry(layout: place.layout, direction: .outbound))
                    switch rule.target {
                    case .jump(.istioRedirect):
                        capturesOutbound = true
                        handedOver.add(observed.packets)
                    case .jump(.istioInRedirect):
                        hairpin.add(observed.packets)
                        endedElsewhere.add(observed.packets)
                    // Packets the DNS chain does not redirect come back: counted there, not here.
                    // A log rule's packets go on to the rule it logs, and are counted there.
                    case .jump(.istioOutputDNS), .log: break
                    default: endedElsewhere.add(observed.packets)
                    }
                } else if place.table == .nat && place.chain == .istioOutputDNS, !rule.isLog {
                    endedElsewhere.add(observed.packets)
                }
                let family = (observed.family ?? rule.family).map { $0 == .ipv4 ? "ipv4" : "ipv6" } ?? "all"
                func count(_ purpose: Purpose, _ packets: UInt64, _ bytes: UInt64) {
                    guard let row = CounterRow(purpose, family: family) else { return }
                    // One hash lookup: a new key takes the next index as it is looked up.
                    let at = Comparison.slot(&rowIndex[row.key, default: rows.count])
                    if at == rows.count { rows.append(row) }
                    rows[at].packets.add(packets)
                    rows[at].bytes.add(bytes)
                    rows[at].rules += 1
                    if !observed.counted { rows[at].uncounted += 1 }
                }
                // A set's rule counts through its elements: a row per CIDR, as with a rule per CIDR;
                // a set too long for element counters (`NamedSet.countsElements`) through its rule.
                guard let element = Self.elementPurpose(purpose), !observed.elements.isEmpty else {
                    count(purpose, observed.packets, observed.bytes)
                    continue
                }
                // Two rules may look up one set (TPROXY's divert and capture): its elements count once.
                let set = rule.matches.lazy.compactMap(\.namedSet).first?.name ?? ""
                guard expandedSets.insert("\(observed.table) \(set)").inserted else { continue }
                for counted in observed.elements { count(element(counted.element), counted.packets, counted.bytes) }
            }
        }

        // The inbound REDIRECT counted the hairpin as well: what came in is the rest.
        if let inbound = captured[.inbound] { captured[.inbound] = inbound >= hairpin ? inbound - hairpin : 0 }
        // One REDIRECT for both directions: outbound is what ISTIO_OUTPUT handed over, inbound the rest.
        if inboundThroughRedirect, let both = captured[.outbound] {
            captured[.outbound] = min(both, handedOver)
            captured[.inbound, default: 0].add(both > handedOver ? both - handedOver : 0)
        }

        var verdicts: [Verdict] = []
        let ambient = reading.chains?.filter { $0.chain == Istio.ambientChain }.map { "\($0.table) \($0.chain)" } ?? []
        if !ambient.isEmpty {
            // Never "capture looks right" (or "nothing is captured") over rules meshcap cannot judge.
            verdicts.append(Verdict(kind: .ambient, message: "Istio ambient's in-pod redirection is in \(reading.source) (\(ambient.joined(separator: ", "))): ztunnel's capture, not a sidecar's, so these rows say nothing about it (istioctl ztunnel-config shows ztunnel's side); meshcap's apply and clean with iptables refuse to change it"))
        }
        if ambient.isEmpty, comparison.places.allSatisfy({ $0.rules.allSatisfy { $0.rule == nil } }) {
            verdicts.append(Verdict(kind: .noRules, message: "no capture rules of meshcap's or Istio's in \(reading.source): nothing is captured (`meshcap apply` puts them there)"))
        } else {
            for entry in needEntry.subtracting(entered).sorted() {
                let hook = entry.direction == .inbound ? "PREROUTING into ISTIO_INBOUND" : "OUTPUT into ISTIO_OUTPUT"
                verdicts.append(Verdict(kind: .missingEntry, message: "the jump from \(hook)\(entry.where) is missing: no \(entry.direction) traffic reaches meshcap's rules there"))
            }
        }
        if let drift = comparison.driftSentence, !verdicts.contains(where: { $0.kind == .noRules }) {
            verdicts.append(Verdict(kind: .drift, message: "the rules in \(reading.source) are not the config's: \(drift) (`meshcap diff` shows them on a live host)"))
        }
        if desired?.capturesNothing == true {
            verdicts.append(Verdict(kind: .nothingCaptured, message: "the config sends nothing to the proxy: \(InterceptConfig.captureKeys) are all empty or off, so the rules only let traffic by (is cluster.env there?)"))
        }
        if let failed = reading.failedApply {
            verdicts.append(Verdict(kind: .applyFailed, message: "\(failed); the rules in force are the ones from before it (`meshcap apply` once the cause is fixed)"))
        }
        if let interrupted = reading.interrupted {
            // First: it is why any other verdict may be off.
            verdicts.insert(Verdict(kind: .interrupted, message: "\(interrupted.operation) was interrupted before it ended: the rules may be neither the old config's nor the new one's (`\(interrupted.fix)` completes it)"), at: 0)
        }
        verdicts += reading.elsewhere.map { Verdict(kind: .capturedTwice, message: $0) }
        for ahead in reading.ahead {
            if let packets = ahead.packets {
                if packets > 0 { verdicts.append(Verdict(kind: .otherRulesAhead, message: "\(ahead.sentence), and has taken \(packets) packets")) }
            } else {
                notes.append(ahead.sentence)
            }
        }
        // What reached ISTIO_REDIRECT and was not redirected is not TCP (its REDIRECT takes every
        // TCP packet): a UDP flow to a captured range (NTP, DNS with capture off) proves nothing.
        // What fell off ISTIO_OUTPUT's end is what no rule took.
        let outbound = seen[.outbound] ?? 0
        // Rules that count nothing prove nothing either way: no verdict from counts then.
        if uncountedRules == 0, capturesOutbound, captured[.outbound] ?? 0 == 0, outbound > endedElsewhere + handedOver {
            verdicts.append(Verdict(kind: .nothingRedirected, message: "\(outbound - endedElsewhere - handedOver) connections left through OUTPUT past every exclusion, and none was redirected to the proxy: are the services' addresses in the captured ranges (ISTIO_SERVICE_CIDR)?"))
        }
        if uncountedRules > 0 {
            notes.append("\(uncountedRules) of the capture rules have no counter statement (Istio's nftables rules had none until istio/istio#57216): their packets are not counted (shown as -), which says nothing about whether they capture; `meshcap apply` writes rules that count")
        } else if verdicts.isEmpty, !seen.isEmpty, seen.values.allSatisfy({ $0 == 0 }) {
            notes.append("no packet has reached meshcap's rules yet: the rules are in place, but whether they capture shows only once traffic flows (or with --probe)")
        }

        schema = Self.currentSchema
        source = reading.source
        againstConfig = desired != nil
        // Inbound first, then outbound; within each, in the order the rules run.
        var ordered: [CounterRow] = []
        ordered.reserveCapacity(rows.count)
        for direction in Purpose.Direction.allCases {
            for row in rows where row.direction == direction { ordered.append(row) }
        }
        self.rows = ordered
        totals = Purpose.Direction.allCases.filter { seen[$0] != nil || captured[$0] != nil }
            .map { Total(direction: $0, seen: seen[$0] ?? 0, captured: captured[$0] ?? 0, counted: !uncountedDirections.contains($0)) }
        self.verdicts = verdicts
        others = comparison.others.map {
            OtherRule(table: $0.table, chain: $0.chain, rule: $0.text, packets: $0.packets, bytes: $0.bytes, counted: $0.counted)
        }
        self.notes = notes
    }

    /// For a rule that looks up a set: the row purpose of each of its elements (a CIDR's, a
    /// port's), as a rule per element would have had; nil for other rules.
    static func elementPurpose(_ purpose: Purpose) -> ((SetElement) -> Purpose)? {
        switch purpose {
        case .outboundRangeSet(_, let action):
            return { if case .prefix(let prefix) = $0 { .outboundRange(prefix, action) } else { purpose } }
        case .inboundSourceSet:
            return { if case .prefix(let prefix) = $0 { .inboundSource(prefix) } else { purpose } }
        case .inboundPortSet(let action):
            return { if case .port(let port) = $0 { .inboundPort(port, action) } else { purpose } }
        case .outboundPortSet(let proto, let action):
            return { if case .port(let port) = $0 { .outboundPort(port, proto, action) } else { purpose } }
        default:
            return nil
        }
    }

    /// Adds `--probe`'s results: each failed path is a problem, and so is a probe that tried no
    /// path at all: it showed nothing, and "capture looks right" would say it had.
    public mutating func add(probes results: [ProbeResult], notes: [String]) {
        probes = results
        self.notes += notes
        verdicts += results.filter { $0.outcome == .failed }.map { Verdict(kind: .probeFailed, message: "\($0.path.name): \($0.detail)") }
        let skips = results.compactMap(\.skip)
        if !results.isEmpty, skips.count == results.count {
            verdicts.append(Verdict(kind: .probeUnproven, message: Self.unproven(skips)))
        }
    }

    /// Why no probe path was tried: each reason with the number of paths it stopped, in the
    /// order first met, then what to do about each.
    static func unproven(_ skips: [ProbeResult.Skip]) -> String {
        var reasons: [(reason: String, paths: Int)] = [], remedies: [String] = []
        for skip in skips {
            if let at = reasons.firstIndex(where: { $0.reason == skip.reason }) { reasons[at].paths += 1 } else { reasons.append((skip.reason, 1)) }
            if !remedies.contains(skip.remedy) { remedies.append(skip.remedy) }
        }
        let why = reasons.map { "\($0.reason) (\($0.paths) \($0.paths == 1 ? "path" : "paths"))" }.joined(separator: ", ")
        let none = skips.count == 1 ? "the one probe path could not be tried" : "none of the \(skips.count) probe paths could be tried"
        return "\(none), so the probes prove nothing: \(why); \(remedies.joined(separator: "; "))"
    }

    /// A hook's jump in one layout: the IPv4 and IPv6 tables each need their own.
    struct Entry: Hashable, Comparable {
        let layout: Layout
        let direction: Purpose.Direction

        /// " (IPv6)", or nothing for IPv4 and nft's inet tables.
        var `where`: String { layout == .xtables(.ipv6) ? " (IPv6)" : "" }

        static func < (a: Entry, b: Entry) -> Bool { (a.where, a.direction.rawValue) < (b.where, b.direction.rawValue) }
    }
}

extension UInt64 {
    /// Counters add up without trapping: a saved dump can hold any number, and two near the top
    /// would overflow a sum.
    mutating func add(_ other: UInt64) {
        let (sum, overflow) = addingReportingOverflow(other)
        self = overflow ? .max : sum
    }
}
