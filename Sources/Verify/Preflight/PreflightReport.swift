/// `doctor`'s findings: each check PASS, WARN or FAIL, what was found, and the fix in one line.
public struct PreflightCheck: Sendable, Equatable {
    public enum Status: String, Sendable {
        case pass = "PASS"
        case warn = "WARN"
        case fail = "FAIL"
    }

    /// What was looked at: "privileges", "kernel", "rules", "proxy user", "control plane",
    /// "ssh", "capture port", "counters".
    public let area: String
    public let status: Status
    public let detail: String
    /// One line a person can act on; nil on a pass.
    public let fix: String?

    public init(_ area: String, _ status: Status, _ detail: String, fix: String? = nil) {
        self.area = area
        self.status = status
        self.detail = detail
        self.fix = fix
    }
}

public struct PreflightReport: Sendable {
    public let checks: [PreflightCheck]

    public init(_ checks: [PreflightCheck]) { self.checks = checks }

    public var failed: Bool { checks.contains { $0.status == .fail } }

    func count(_ status: PreflightCheck.Status) -> Int { checks.count { $0.status == status } }

    public var summary: String {
        "doctor: \(count(.pass)) passed, \(count(.warn)) \(count(.warn) == 1 ? "warning" : "warnings"), \(count(.fail)) failed"
    }

    /// For people: a line per check, its fix indented below it.
    public var text: String {
        let width = checks.map(\.area.count).max() ?? 0
        var lines: [String] = []
        for check in checks {
            lines.append("\(check.status.rawValue)  \(check.area)\(String(repeating: " ", count: width - check.area.count))  \(check.detail)")
            if let fix = check.fix { lines.append("      \(String(repeating: " ", count: width))  fix: \(fix)") }
        }
        return (lines + [summary]).joined(separator: "\n") + "\n"
    }

    /// Schema `meshcap.doctor/v1`: { "schema", "ok", "passed", "warnings", "failed",
    /// "checks": [{ "area", "status" (pass|warn|fail), "detail", "fix" (null on a pass) }] }.
    public var json: String {
        let value: JSON = .object([
            ("schema", .string("meshcap.doctor/v1")),
            ("ok", .bool(!failed)),
            ("passed", .number(UInt64(count(.pass)))),
            ("warnings", .number(UInt64(count(.warn)))),
            ("failed", .number(UInt64(count(.fail)))),
            ("checks", .array(checks.map {
                .object([("area", .string($0.area)), ("status", .string($0.status.rawValue.lowercased())),
                         ("detail", .string($0.detail)), ("fix", $0.fix.map { .string($0) } ?? .null)])
            })),
        ])
        return value.text + "\n"
    }
}
