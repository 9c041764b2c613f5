import HostOps
import MeshCapture

/// Counters as read, from a live host or a saved dump: the rules (meshcap's, Istio's and other
/// software's in the same chains), and what else bears on whether capture works.
public struct CounterReading: Sendable {
    /// What was read, as the report names it: "nft", "iptables-nft", "iptables-save -c (vm1.txt)".
    public let source: String
    public let rules: [ObservedRule]
    /// Other programs' rules or chains that see packets first.
    public let ahead: [Ahead]
    /// Capture rules in another backend or iptables variant, one sentence each.
    public let elsewhere: [String]

    public init(source: String, rules: [ObservedRule], ahead: [Ahead] = [], elsewhere: [String] = []) {
        self.source = source
        self.rules = rules
        self.ahead = ahead
        self.elsewhere = elsewhere
    }
}
