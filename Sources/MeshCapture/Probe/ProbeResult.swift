/// What became of one probe path (`Prober`, in HostOps, tries them).
public struct ProbeResult: Sendable, Hashable {
    public enum Outcome: String, Sendable {
        case passed
        case failed
        /// Not tried: its capture port is taken (the proxy runs) or the peer could not be made.
        case skipped
    }

    /// Why a path was not tried.
    public enum Skip: Sendable, Hashable, CustomStringConvertible {
        /// Its capture port is taken: the proxy runs, and a probe would test it, not the rules.
        case portTaken(Port, L4Protocol)
        /// The peer namespace inbound paths start from could not be made.
        case noPeer
        /// The connection never left (no route, a child that could not start): the target and
        /// what became of it.
        case notSent(ConnectionAttempt.Target, String)

        public var description: String {
            if case .notSent(let target, let attempt) = self { "could not be tried: \(target) \(attempt)" } else { reason }
        }

        /// The same for every path it stops, so a run's reasons can be counted.
        public var reason: String {
            switch self {
            case .portTaken(let port, let proto): "\(ProbePath.portName(port, proto)) is taken"
            case .noPeer: "no probe peer"
            case .notSent: "could not be sent"
            }
        }

        /// What to do about it.
        public var remedy: String {
            switch self {
            case .portTaken: "is the proxy running? Probe before it starts, or stop it"
            case .noPeer: "the note says why the peer namespace could not be made"
            case .notSent: "outbound probes need a route to the included ranges and the DNS servers"
            }
        }
    }

    public let path: ProbePath
    public let outcome: Outcome
    /// What happened: "arrived on 15001 for 10.96.0.1:80", "went out (timed out)".
    public let detail: String
    /// Why, when it was skipped.
    public let skip: Skip?

    public init(path: ProbePath, outcome: Outcome, detail: String) {
        self.path = path
        self.outcome = outcome
        self.detail = detail
        skip = nil
    }

    public init(path: ProbePath, skipped skip: Skip) {
        self.path = path
        outcome = .skipped
        detail = skip.description
        self.skip = skip
    }
}
