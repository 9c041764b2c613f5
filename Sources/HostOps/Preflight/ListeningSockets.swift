import MeshCapture

/// The TCP ports something listens on in this network namespace, from /proc/net/tcp and tcp6
/// (the kernel's own table: no `ss` needed): whether Envoy holds the capture ports yet.
public enum ListeningSockets {
    /// Streamed: a busy host lists every connection (TIME_WAIT too), far past what a config may be.
    /// - Throws: when a table cannot be read (the caller says so rather than "nothing listens").
    public static func tcpPorts(procNet: String = "/proc/net") throws(ConfigError) -> Set<Port> {
        var ports = Set<Port>()
        for file in ["tcp", "tcp6"] {
            try InputFile.streamLines("\(procNet)/\(file)", role: "socket table", standardInput: false, limit: Int.max) { line in
                if let port = listening(line) { ports.insert(port) }
            }
        }
        return ports
    }

    /// "  0: 00000000:3A99 00000000:0000 0A ...": local address:port in hex, then the remote, then
    /// the state, 0A being LISTEN. nil for any other line (the header too).
    static func listening(_ line: ArraySlice<UInt8>) -> Port? {
        let fields = line.split(separator: UInt8(ascii: " "))
        guard fields.count > 3, fields[3].elementsEqual("0A".utf8), let colon = fields[1].lastIndex(of: UInt8(ascii: ":")) else { return nil }
        return Port(String(decoding: fields[1][(colon + 1)...], as: UTF8.self), radix: 16)
    }
}
