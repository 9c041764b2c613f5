/// One path `verify --probe` tries: a connection (or a datagram) from somewhere to an endpoint,
/// and where it must (or must not) arrive.
public struct ProbePath: Sendable, Hashable {
    public enum Origin: Sendable, Hashable {
        /// A process on this host, as root.
        case host
        /// A process on this host running as the proxy's UID and GID.
        case proxy(uid: UInt32, gid: UInt32)
        /// A host on the other end of a veth pair meshcap creates for the probe: inbound traffic.
        case peer
    }

    /// What the path is, as the report says it: "outbound to 10.96.0.0/12 is captured".
    public let name: String
    public let family: Family
    public let origin: Origin
    /// TCP but for DNS's UDP paths.
    public let proto: L4Protocol
    public let target: Endpoint
    /// The capture port a capture of it arrives on.
    public let capturePort: Port
    /// Whether it must arrive there with its destination intact, or must not arrive at all.
    public let captured: Bool

    init(name: String, family: Family, origin: Origin, proto: L4Protocol = .tcp, target: Endpoint, capturePort: Port, captured: Bool) {
        self.name = name
        self.family = family
        self.origin = origin
        self.proto = proto
        self.target = target
        self.capturePort = capturePort
        self.captured = captured
    }

    /// What its probe is sent to.
    public var destination: ConnectionAttempt.Target { ConnectionAttempt.Target(proto, target) }

    /// "port 15001", "UDP port 15053": TCP unless said, as people speak of the proxy's ports.
    public static func portName(_ port: Port, _ proto: L4Protocol) -> String { proto == .tcp ? "port \(port)" : "UDP port \(port)" }

    /// The paths that show a config's capture works, a few per kind (`limit`), both families
    /// when IPv6 is on. Inbound targets name a port only: the address is the probe peer's
    /// gateway, known when it exists (`peerGateway`).
    public static func paths(for config: InterceptConfig, resolve: OwnerResolver, peerGateway: (Family) -> IPAddress, limit: Int = 4) -> [ProbePath] {
        var paths: [ProbePath] = []
        let excluded = config.outboundRangesExclude
        let outboundPort = [80, 8080, 15999].map(Port.init).first { !config.outboundPortsExclude.contains($0) } ?? 15999
        // The proxy runs as its first user and group.
        let proxy = config.proxyUsers.first.flatMap { $0.id(isGroup: false, resolve: resolve) }.map { user in
            (uid: user, gid: config.proxyGroups.first.flatMap { $0.id(isGroup: true, resolve: resolve) } ?? user)
        }
        for family in config.families.sorted() {
            let label = family == .ipv4 ? "" : " (IPv6)"
            // Outbound: each included range captured, with an address in it that no exclusion covers.
            var captured: [IPAddress] = []
            switch config.outboundRanges {
            case .none:
                break
            case .all:
                let address: IPAddress = family == .ipv4 ? .v4(0xCB00_7101) : .v6(UInt128(0x2001_0db8_ffff) << 80 | 1)  // 203.0.113.1, 2001:db8:ffff::1
                if !excluded.contains(where: { $0.contains(address) }) {
                    captured.append(address)
                    paths.append(ProbePath(name: "outbound to any destination (\(address)) is captured\(label)", family: family, origin: .host,
                                           target: Endpoint(address, outboundPort), capturePort: config.proxyPort, captured: true))
                }
            case .only(let prefixes):
                for prefix in prefixes.filter({ $0.family == family }).prefix(limit) {
                    guard let address = prefix.probeAddress(avoiding: excluded) else { continue }
                    captured.append(address)
                    paths.append(ProbePath(name: "outbound to \(prefix) is captured", family: family, origin: .host,
                                           target: Endpoint(address, outboundPort), capturePort: config.proxyPort, captured: true))
                }
            }
            for prefix in excluded.filter({ $0.family == family }).prefix(limit) {
                paths.append(ProbePath(name: "outbound to excluded \(prefix) is not captured", family: family, origin: .host,
                                       target: Endpoint(prefix.probeAddress(avoiding: []) ?? prefix.address, outboundPort),
                                       capturePort: config.proxyPort, captured: false))
            }
            if let address = captured.first {
                for port in config.outboundPortsExclude.prefix(limit) {
                    paths.append(ProbePath(name: "outbound to excluded port \(port) is not captured\(label)", family: family, origin: .host,
                                           target: Endpoint(address, port), capturePort: config.proxyPort, captured: false))
                }
                if let proxy {
                    paths.append(ProbePath(name: "the proxy's own outbound (uid \(proxy.uid)) is not captured\(label)", family: family,
                                           origin: .proxy(uid: proxy.uid, gid: proxy.gid), target: Endpoint(address, outboundPort),
                                           capturePort: config.proxyPort, captured: false))
                }
            }
            paths += dnsPaths(for: config, family: family, proxy: proxy.map { .proxy(uid: $0.uid, gid: $0.gid) }, limit: limit)
            // Inbound, from the peer: each included port captured, each excluded one not.
            let gateway = peerGateway(family)
            switch config.inboundPorts {
            case .none:
                break
            case .all:
                let port = [80, 8080, 15999].map(Port.init).first { !config.inboundPortsExclude.contains($0) && $0 != config.inboundTunnelPort } ?? 15999
                paths.append(ProbePath(name: "inbound to any port (\(port)) is captured\(label)", family: family, origin: .peer,
                                       target: Endpoint(gateway, port), capturePort: config.inboundCapturePort, captured: true))
                for port in config.inboundPortsExclude.prefix(limit) {
                    paths.append(ProbePath(name: "inbound to excluded port \(port) is not captured\(label)", family: family, origin: .peer,
                                           target: Endpoint(gateway, port), capturePort: config.inboundCapturePort, captured: false))
                }
            case .only(let ports):
                for port in ports.prefix(limit) {
                    paths.append(ProbePath(name: "inbound to port \(port) is captured\(label)", family: family, origin: .peer,
                                           target: Endpoint(gateway, port), capturePort: config.inboundCapturePort, captured: true))
                }
            }
        }
        return paths
    }

    /// DNS capture: queries to each server (a few, `limit`), over UDP and TCP, must reach the
    /// agent's DNS proxy; the agent's own queries upstream, sent as the proxy's user, must not.
    /// With CAPTURE_ALL_DNS and no server of the family given, any server is captured: a
    /// documentation address stands for them (192.0.2.53, 2001:db8::53).
    static func dnsPaths(for config: InterceptConfig, family: Family, proxy: Origin?, limit: Int) -> [ProbePath] {
        guard config.capturesDNS else { return [] }
        var servers = Array((family == .ipv4 ? config.dnsServersV4 : config.dnsServersV6).prefix(limit))
        if servers.isEmpty && config.captureAllDNS { servers = [family == .ipv4 ? .v4(0xC000_0235) : .v6(UInt128(0x2001_0db8) << 96 | 0x53)] }
        var paths: [ProbePath] = []
        for origin in [Origin.host] + [proxy].compactMap({ $0 }) {
            for server in servers {
                for proto in [L4Protocol.udp, .tcp] {
                    let what = "DNS to \(server) over \(proto.rawValue.uppercased())"
                    let captured = origin == .host
                    paths.append(ProbePath(name: captured ? "\(what) is sent to the agent (\(Istio.agentDNSPort))" : "the proxy's own \(what) is not captured",
                                           family: family, origin: origin, proto: proto, target: Endpoint(server, Istio.dnsPort),
                                           capturePort: Istio.agentDNSPort, captured: captured))
                }
            }
        }
        return paths
    }
}

extension Prefix {
    /// An address in the prefix to send a probe to: the first host address (the network itself
    /// for a /31, /32, /127 or /128) that no prefix in `avoiding` covers; nil if the few tried are all covered.
    func probeAddress(avoiding excluded: [Prefix]) -> IPAddress? {
        let spare = address.width - length
        let offsets: [UInt128] = spare <= 1 ? [0] : [1, 2, 3, 10, 100, (UInt128(1) << min(spare, 127)) / 2, (UInt128(1) << min(spare, 127)) - 2]
        for offset in offsets where spare >= 127 || offset < UInt128(1) << spare {
            let candidate: IPAddress
            switch address {
            case .v4(let network): candidate = .v4(network + UInt32(truncatingIfNeeded: offset))
            case .v6(let network): candidate = .v6(network + offset)
            }
            if !candidate.isLoopback && !excluded.contains(where: { $0.contains(candidate) }) { return candidate }
        }
        return nil
    }
}
