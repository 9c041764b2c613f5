import MeshCapture

/// A host's policy routing, as far as meshcap touches it. `KernelRouting` is the real one (over
/// rtnetlink); `FakeRouting` stands in for it in the tests of what sits above.
public protocol RoutingHost: Sendable {
    func observe() throws -> [PolicyRouting.Observed]
    /// Adds an entry tagged as meshcap's; false if it was there already.
    func add(_ entry: RoutingEntry) throws -> Bool
    /// Removes an observed entry; false if it was gone already.
    func remove(_ observed: PolicyRouting.Observed) throws -> Bool
}

public struct KernelRouting: RoutingHost {
    public init() {}
    public func observe() throws -> [PolicyRouting.Observed] { try PolicyRouting.observe() }
    public func add(_ entry: RoutingEntry) throws -> Bool { try PolicyRouting.add(entry) }
    public func remove(_ observed: PolicyRouting.Observed) throws -> Bool { try PolicyRouting.remove(observed) }
}

extension PolicyRouting.Observed {
    public init(entry: RoutingEntry, tagged: Bool) { self.init(entry: entry, tagged: tagged, priority: nil) }
}
