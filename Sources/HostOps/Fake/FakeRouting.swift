import MeshCapture

/// Policy routing in memory, or kept in a directory's `routing` file (one entry a line, as `ip`
/// would be told to add it, after `tagged` or `untagged`): `KernelRouting`'s stand-in.
public final class FakeRouting: RoutingHost, @unchecked Sendable {
    public var routes: [PolicyRouting.Observed]
    /// Every add and remove asked for, in order.
    public private(set) var log: [String] = []
    /// Removing a route fails with this.
    public var removalRefusal: (any Error)?
    /// Like a kernel older than the routing protocol attributes: entries are kept, their tag not.
    public var keepsTags = true
    let directory: String?

    public init(directory: String? = nil) throws {
        self.directory = directory
        routes = []
        guard let directory, let text = try? InputFile.read("\(directory)/routing", role: "fake host state", strictText: false) else { return }
        routes = text.lines.compactMap { line in
            let words = line.split(separator: " ")
            guard let first = words.first, let entry = Self.entry(words.dropFirst()) else { return nil }
            return PolicyRouting.Observed(entry: entry, tagged: first == "tagged")
        }
    }

    /// An entry from the words of `RoutingEntry.description` ("ip -4 rule add fwmark 1337 lookup 133").
    static func entry(_ words: ArraySlice<Substring>) -> RoutingEntry? {
        let w = Array(words)
        guard w.count >= 5 else { return nil }
        let family: Family = w[1] == "-6" ? .ipv6 : .ipv4
        switch w[2] {
        case "rule": return UInt32(w[5]).flatMap { mark in UInt32(w[w.count - 1]).map { .markRule(family, mark: mark, table: $0) } }
        case "route": return UInt32(w[w.count - 1]).map { .localDefault(family, table: $0) }
        case "addr": return (try? Prefix.parse(w[4])).map { .loopbackAddress($0) }
        default: return nil
        }
    }

    public func observe() throws -> [PolicyRouting.Observed] { routes }

    public func add(_ entry: RoutingEntry) throws -> Bool {
        log.append("add \(entry)")
        guard !routes.contains(where: { $0.entry == entry }) else { return false }
        routes.append(PolicyRouting.Observed(entry: entry, tagged: keepsTags))
        try persist()
        return true
    }

    public func remove(_ observed: PolicyRouting.Observed) throws -> Bool {
        log.append("remove \(observed.entry)")
        if let removalRefusal { throw removalRefusal }
        guard let index = routes.firstIndex(where: { $0.entry == observed.entry }) else { return false }
        routes.remove(at: index)
        try persist()
        return true
    }

    func persist() throws {
        guard let directory else { return }
        if let code = TextFile.makeDirectories(directory) { throw HostError("cannot create \(directory)", errno: code) }
        try TextFile.replace("\(directory)/routing", with: routes.map { "\($0.tagged ? "tagged" : "untagged") \($0.entry)\n" }.joined())
    }
}
