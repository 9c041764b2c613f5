import MeshCapture

/// The TCP ports something listens on in this network namespace, from /proc/net/tcp and tcp6
/// (the kernel's own table: no `ss` needed): whether Envoy holds the capture ports yet.
public enum ListeningSockets {
    public static func tcpPorts(procNet: String = "/proc/net") -> Set<Port> {
        var ports = Set<Port>()
        for file in ["tcp", "tcp6"] {
            guard let text = try? InputFile.read("\(procNet)/\(file)", role: "socket table", strictText: false) else { continue }
            ports.formUnion(listening(text))
        }
        return ports
    }

    /// "  0: 00000000:3A99 00000000:0000 0A ...": local address:port in hex, then the remote, then
    /// the state, 0A being LISTEN.
    static func listening(_ text: InputText) -> Set<Port> {
        var ports = Set<Port>()
        for line in text.lines.dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 3, fields[3] == "0A", let colon = fields[1].lastIndex(of: ":"),
                  let port = Port(fields[1][fields[1].index(after: colon)...], radix: 16) else { continue }
            ports.insert(port)
        }
        return ports
    }
}
