/// The connections (and datagrams) of a probe round: where each goes (`Target`). HostOps opens
/// them (`ConnectionAttempt.connect`).
public enum ConnectionAttempt {
    /// Where one attempt goes: "10.0.0.1:80" (TCP) or "10.0.0.2:53/udp", as `probe-connect`
    /// takes it.
    public struct Target: Sendable, Hashable, CustomStringConvertible {
        public let proto: L4Protocol
        public let endpoint: Endpoint

        public init(_ proto: L4Protocol, _ endpoint: Endpoint) {
            self.proto = proto
            self.endpoint = endpoint
        }

        /// An endpoint, with "/udp" or "/tcp" after it or neither (TCP).
        public init?(parsing text: String) {
            var text = Substring(text), proto = L4Protocol.tcp
            if let slash = text.lastIndex(of: "/") {
                guard let named = L4Protocol(rawValue: String(text[text.index(after: slash)...])) else { return nil }
                proto = named
                text = text[..<slash]
            }
            guard let endpoint = Endpoint(parsing: String(text)) else { return nil }
            self.init(proto, endpoint)
        }

        public var description: String { proto == .tcp ? endpoint.description : "\(endpoint)/\(proto.rawValue)" }
    }
}
