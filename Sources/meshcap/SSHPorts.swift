import Glibc
import MeshCapture

/// The ports sshd listens on: its Port lines, in its config and the files its Include lines name
/// (Debian and Ubuntu keep drop-ins in sshd_config.d; a relative pattern is relative to the
/// config's directory), to a depth of 8 as sshd allows; 22 when none says otherwise. A port
/// captured inbound sends SSH through Envoy: when Envoy is down or refuses it, the operator is
/// locked out. doctor checks it; apply and compile warn.
struct SSHPorts {
    static let defaultConfig = "/etc/ssh/sshd_config"

    private(set) var ports: [Port] = []
    /// Files that could not be read, each with why (InputFile's sentence).
    private(set) var unread: [String] = []

    /// - Parameter given: the path was given by the user: its absence is worth saying, where a
    ///   default that is absent means there is no sshd.
    init(config path: String, given: Bool) {
        let base = path.split(separator: "/").dropLast().joined(separator: "/")
        func read(_ path: String, depth: Int) {
            guard depth < 8 else { return }
            let text: InputText
            do {
                // Included files were found by glob: only the top one may be a default that is absent.
                guard let found = try InputFile.read(path, role: "sshd config", given: given || depth > 0) else { return }
                text = found
            } catch {
                unread.append(error.description)
                return
            }
            for line in text.lines {
                let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard fields.count > 1 else { continue }
                switch fields[0].lowercased() {
                case "port": if let port = Port(fields[1]), !ports.contains(port) { ports.append(port) }
                case "include":
                    for pattern in fields.dropFirst() {
                        let absolute = pattern.hasPrefix("/") ? String(pattern) : "/\(base)/\(pattern)"
                        for file in Self.glob(absolute) { read(file, depth: depth + 1) }
                    }
                default: break
                }
            }
        }
        read(path, depth: 0)
        if ports.isEmpty { ports = [22] }
    }

    /// sshd's default alone: for rules compiled for another machine, whose sshd config is not here.
    init() { ports = [22] }

    static func glob(_ pattern: String) -> [String] {
        var found = glob_t()
        defer { globfree(&found) }
        guard Glibc.glob(pattern, 0, nil, &found) == 0 else { return [] }
        return (0..<Int(found.gl_pathc)).compactMap { found.gl_pathv[$0].map { String(cString: $0) } }
    }

    /// "port 22 (SSH) is captured inbound: ...", for each port the plan captures.
    func lockOuts(_ plan: CapturePlan) -> [(port: Port, sentence: String, fix: String)] {
        ports.filter(plan.capturesInbound(port:)).map { port in
            (port, "port \(port) (SSH) is captured inbound: SSH then goes through Envoy, and when Envoy is down or refuses it you are locked out",
             "add \(port) to ISTIO_LOCAL_EXCLUDE_PORTS (INBOUND_PORTS_EXCLUDE, -d \(port))")
        }
    }
}
