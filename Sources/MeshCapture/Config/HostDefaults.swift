/// What istio-iptables fills in from the host when the config leaves it open (Istio's
/// `tools/common/config/config.go`), done the same way from the files meshcap is pointed at, so
/// rules compiled in CI for a VM can use that VM's files (`--passwd-file`, `--resolv-conf`):
/// - PROXY_UID unset or empty: the UID of the account ENVOY_USER names (default istio-proxy), or
///   1337 when there is no such account; PROXY_GID unset: PROXY_UID (see `InterceptConfig`).
/// - DNS capture on, CAPTURE_ALL_DNS off and neither DNS_SERVERS_V4 nor DNS_SERVERS_V6 given: the
///   nameservers of resolv.conf. A server list given empty is an answer, not a gap: Istio's own
///   test configs say "no servers" that way.
/// - ENABLE_INBOUND_IPV6 unset: Istio switches IPv6 on when the host's first address is IPv6.
///   meshcap does not look at interfaces (the same files must give the same rules on any
///   machine); it reads the VM's address from ISTIO_SVC_IP, which istioctl writes into
///   cluster.env, and switches IPv6 on when that is IPv6.
enum HostDefaults {
    static let envoyUser = "istio-proxy"

    /// What was taken from the host (one phrase each), and what about it deserves a warning.
    struct Outcome {
        var facts: [String] = []
        var warnings: [String] = []
    }

    static func proxyUser(_ config: inout InterceptConfig, uid: Setting?, envoyUser setting: Setting?,
                          accounts: AccountDatabase) -> Outcome {
        var outcome = Outcome()
        let user = setting.map(\.value).flatMap { $0.isEmpty ? nil : $0 } ?? envoyUser
        let userID = accounts.id(of: user, isGroup: false)
        let gid = config.proxyGroupsSetting == nil ? ", PROXY_GID=" : nil
        let loop = "its own connections will be captured again (a loop)"
        guard let uid, !uid.value.isEmpty else {
            if let userID {
                config.proxyUsers = [.id(userID)]
                outcome.facts.append("PROXY_UID=\(userID)\(gid.map { "\($0)\(userID)" } ?? "") (user \(user) in \(accounts.passwdPath))")
            } else {
                let fallback = config.proxyUsers.map(\.description).joined(separator: ",")
                outcome.facts.append("PROXY_UID=\(fallback)\(gid.map { "\($0)\(fallback)" } ?? "") (no user \(user) in \(accounts.passwdPath))")
                outcome.warnings.append("no user \(user) (ENVOY_USER) in \(accounts.passwdPath), so PROXY_UID is \(fallback) as in Istio: if Envoy runs as another user, \(loop); set PROXY_UID or ENVOY_USER")
            }
            return outcome
        }
        let ids = config.proxyUsers.compactMap { $0.id(isGroup: false, resolve: accounts.id) }
        if let userID, !ids.contains(userID) {
            outcome.warnings.append("PROXY_UID=\(uid.value) (\(uid.origin)) is not the UID of ENVOY_USER \(user), \(userID) in \(accounts.passwdPath): if Envoy runs as \(user), \(loop)")
        } else if userID == nil {
            for id in ids where accounts.users(withID: id).isEmpty {
                outcome.warnings.append("no user has UID \(id) (PROXY_UID, \(uid.origin)) in \(accounts.passwdPath): unless Envoy runs as UID \(id), \(loop)")
            }
        }
        return outcome
    }

    static func ipv6(_ config: inout InterceptConfig, enable: Setting?, serviceAddress: Setting?) -> Outcome {
        guard enable == nil, let serviceAddress, let address = IPAddress(serviceAddress.value), address.family == .ipv6 else { return Outcome() }
        config.ipv6 = true
        return Outcome(facts: ["ENABLE_INBOUND_IPV6=true (ISTIO_SVC_IP \(address) is IPv6, \(serviceAddress.origin))"])
    }

    static func dnsServers(_ config: inout InterceptConfig, given: Bool, resolvConf path: String) throws(ConfigErrors) -> Outcome {
        guard config.redirectDNS, !config.captureAllDNS, !given else { return Outcome() }
        let resolv: ResolvConf
        do {
            resolv = try ResolvConf.read(path)
        } catch {
            let why = " (read because DNS capture is on and no DNS_SERVERS_V4/V6 are given; set them, CAPTURE_ALL_DNS, or --resolv-conf)"
            throw ConfigErrors(errors: error.errors.map { ConfigError(origin: $0.origin, message: $0.message + why) })
        }
        config.dnsServersV4 = resolv.ipv4
        config.dnsServersV6 = resolv.ipv6
        let listed = [("DNS_SERVERS_V4", resolv.ipv4), ("DNS_SERVERS_V6", resolv.ipv6)].filter { !$0.1.isEmpty }
            .map { "\($0.0)=\($0.1.map(\.description).joined(separator: ","))" }
        let fact = listed.isEmpty ? "no DNS servers (no nameserver in \(path))" : "\(listed.joined(separator: ", ")) (nameservers in \(path))"
        return Outcome(facts: [fact], warnings: resolv.skipped)
    }
}
