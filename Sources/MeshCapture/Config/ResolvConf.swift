/// The nameservers of a resolv.conf, read the way istio-iptables reads them when DNS capture is
/// on, CAPTURE_ALL_DNS is off and no servers are configured: every `nameserver` line's first
/// argument, split by family; an entry that is not an address is skipped (Istio skips it too,
/// silently; meshcap says so).
public struct ResolvConf: Sendable {
    public static let defaultPath = "/etc/resolv.conf"

    public let path: String
    public let ipv4: [IPAddress]
    public let ipv6: [IPAddress]
    /// "resolv.conf:3: nameserver fe80::1%eth0 skipped: ..." for each entry not used.
    public let skipped: [String]

    public static func read(_ path: String) throws(ConfigErrors) -> ResolvConf {
        parse(try InputFile.read(path, role: "resolver file", strictText: false))
    }

    public static func parse(_ text: InputText) -> ResolvConf {
        var ipv4: [IPAddress] = [], ipv6: [IPAddress] = [], skipped: [String] = []
        for (index, line) in text.lines.enumerated() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.first == "nameserver", fields.count > 1 else { continue }
            let entry = fields[1]
            guard let address = IPAddress(entry) else {
                let why = entry.contains("%")
                    ? "a link-local address with a zone cannot be matched by a firewall rule"
                    : "not an IP address"
                skipped.append("\(text.name):\(index + 1): nameserver \(entry) skipped: \(why)")
                continue
            }
            if address.family == .ipv4 { ipv4.append(address) } else { ipv6.append(address) }
        }
        return ResolvConf(path: text.name, ipv4: ipv4, ipv6: ipv6, skipped: skipped)
    }
}
