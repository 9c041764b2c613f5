import MeshCapture

/// How a name resolves on this VM, found the way the C library's stub resolver finds it, but
/// from the files `doctor` is pointed at (`--hosts`, `--resolv-conf`) and saying which way it
/// went: the hosts file first, then each nameserver in turn, the name as given and with each
/// search domain, in the order `ndots` sets. A name that answers only with a search domain
/// appended is the trap of VMs joined to a mesh: it works in a shell today and stops working
/// when a DHCP lease rewrites resolv.conf, or for a resolver that does not search.
public struct NameLookup: Sendable {
    public struct Resolver: Sendable {
        public var nameservers: [IPAddress] = []
        public var search: [String] = []
        public var ndots = 1
        public let path: String

        /// `nameserver`, `search`/`domain` (the last one wins, as in glibc) and `options ndots:N`.
        public init(_ text: InputText) {
            path = text.name
            for line in text.lines {
                let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                guard let keyword = fields.first else { continue }
                switch keyword {
                case "nameserver": if fields.count > 1, let address = IPAddress(fields[1]) { nameservers.append(address) }
                case "search", "domain": search = Array(fields.dropFirst())
                case "options":
                    for option in fields.dropFirst() where option.hasPrefix("ndots:") {
                        ndots = min(Int(option.dropFirst(6)) ?? 1, 15)
                    }
                default: break
                }
            }
        }

        /// The names tried, in order: as given first when it has `ndots` dots or more, else last;
        /// a name ending in a dot is only itself.
        public func candidates(for name: String) -> [String] {
            if name.hasSuffix(".") { return [String(name.dropLast())] }
            let searched = search.map { "\(name).\($0)" }
            return name.count(where: { $0 == "." }) >= ndots ? [name] + searched : searched + [name]
        }
    }

    public enum Outcome: Sendable, Equatable {
        case hostsFile([IPAddress])
        /// Answered for the name as given.
        case direct([IPAddress], server: IPAddress)
        /// Answered only with a search domain appended.
        case throughSearch(String, [IPAddress], server: IPAddress)
        /// No server answered with an address for any candidate; why, per server.
        case unresolved([String])

        /// One line, for doctor's child that asks as the proxy's user (`resolve-names`).
        public var line: String {
            func list(_ addresses: [IPAddress]) -> String { addresses.map(\.description).joined(separator: ",") }
            return switch self {
            case .hostsFile(let addresses): "hosts\t\(list(addresses))"
            case .direct(let addresses, let server): "direct\t\(server)\t\(list(addresses))"
            case .throughSearch(let name, let addresses, let server): "search\t\(server)\t\(list(addresses))\t\(name)"
            case .unresolved(let why): "unresolved\t" + why.joined(separator: "\t").replacing("\n", with: " ")
            }
        }

        public init?(line: some StringProtocol) {
            let fields = String(line).split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            func addresses(_ text: String) -> [IPAddress]? {
                let parsed = text.split(separator: ",").compactMap { IPAddress($0) }
                return parsed.isEmpty ? nil : parsed
            }
            switch (fields.first, fields.count) {
            case ("hosts", 2): guard let found = addresses(fields[1]) else { return nil }; self = .hostsFile(found)
            case ("direct", 3):
                guard let server = IPAddress(fields[1]), let found = addresses(fields[2]) else { return nil }
                self = .direct(found, server: server)
            case ("search", 4):
                guard let server = IPAddress(fields[1]), let found = addresses(fields[2]) else { return nil }
                self = .throughSearch(fields[3], found, server: server)
            case ("unresolved", _): self = .unresolved(Array(fields.dropFirst()))
            default: return nil
            }
        }
    }

    /// Addresses the hosts file gives the name (case-insensitive, aliases included).
    public static func hostsFile(_ text: InputText, name: String) -> [IPAddress] {
        let wanted = name.lowercased().trimmingSuffix(".")
        var found: [IPAddress] = []
        for line in text.lines {
            let fields = line.prefix { $0 != "#" }.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count > 1, let address = IPAddress(fields[0]),
                  fields.dropFirst().contains(where: { $0.lowercased() == wanted }) else { continue }
            found.append(address)
        }
        return found
    }

    public static func resolve(_ name: String, hosts: InputText?, resolver: Resolver, timeout: Double = 2) -> Outcome {
        if let hosts {
            let found = hostsFile(hosts, name: name)
            if !found.isEmpty { return .hostsFile(found) }
        }
        guard !resolver.nameservers.isEmpty else { return .unresolved(["no nameserver in \(resolver.path)"]) }
        var why: [String] = []
        let given = name.hasSuffix(".") ? String(name.dropLast()) : name
        // Like the C library: the next server only when one fails to answer; a server's "no such
        // name" is the answer.
        servers: for server in resolver.nameservers {
            for candidate in resolver.candidates(for: name) {
                var addresses: [IPAddress] = []
                for type in [DNSQuery.RecordType.a, .aaaa] {
                    switch DNSQuery.ask(candidate, type: type, server: server, timeout: timeout) {
                    case .addresses(let found): addresses += found
                    case .noSuchName, .noAddress: break
                    case .failed(let reason):
                        why.append("\(server): \(reason)")
                        continue servers
                    }
                }
                if !addresses.isEmpty {
                    return candidate == given ? .direct(addresses, server: server) : .throughSearch(candidate, addresses, server: server)
                }
            }
            return .unresolved(why + ["\(server): no address for \(resolver.candidates(for: name).joined(separator: ", "))"])
        }
        return .unresolved(why)
    }
}

private extension String {
    func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
