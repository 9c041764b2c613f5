/// Why capture looks broken: each makes `verify` exit 1.
public struct Verdict: Sendable, Hashable {
    public enum Kind: String, Sendable {
        /// An apply or clean was stopped half-way (killed, crashed): the rules may be neither the
        /// old config's nor the new one's, whatever else the reading shows.
        case interrupted
        /// No capture rules at all in the backend read.
        case noRules = "no-rules"
        /// Istio ambient's in-pod rules (ztunnel's) are there: not a sidecar's capture, which is
        /// what meshcap reads, so its rows say nothing about them.
        case ambient
        /// The last apply failed and was taken back: the rules in force are the ones from before,
        /// not the config asked for (the unit failed, and nothing else would say so).
        case applyFailed = "apply-failed"
        /// The config the rules are compared with sends nothing to the proxy: its rules are
        /// only the proxy's bypasses (cluster.env missing, say).
        case nothingCaptured = "nothing-captured"
        /// A direction's rules are there, but the hook's jump into them is not.
        case missingEntry = "missing-entry"
        /// The live rules are not the config's.
        case drift
        /// meshcap's (or Istio's) rules in another backend or iptables variant capture too.
        case capturedTwice = "captured-twice"
        /// Another program's rule ahead of meshcap's has taken packets.
        case otherRulesAhead = "other-rules-ahead"
        /// Connections left through OUTPUT past every exclusion, and none was redirected.
        case nothingRedirected = "nothing-redirected"
        /// A `--probe` connection did not go where the config sends it.
        case probeFailed = "probe-failed"
        /// `--probe` could try none of its paths (the proxy holds the capture ports, no route):
        /// nothing was shown to work, and a pass would say otherwise.
        case probeUnproven = "probe-unproven"
    }

    public let kind: Kind
    public let message: String
}
