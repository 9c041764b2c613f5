/// An address and a port: where a probe goes. (The socket address the C library takes for it is
/// HostOps', which opens the sockets.)
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let port: Port

    public init(_ address: IPAddress, _ port: Port) {
        self.address = address
        self.port = port
    }

    /// "10.0.0.1:80" or "[fd00::1]:80", as `description` writes it.
    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Port(text[text.index(after: colon)...]) else { return nil }
        var host = text[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard let address = IPAddress(host) else { return nil }
        self.init(address, port)
    }

    public var description: String { address.family == .ipv4 ? "\(address):\(port)" : "[\(address)]:\(port)" }
}
