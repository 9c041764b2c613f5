/// What a UDP probe carries: the target it was sent to. After a REDIRECT a TCP connection keeps
/// its original destination for SO_ORIGINAL_DST to read, a datagram keeps none, so the listener
/// reads it from the payload. The run's tag keeps any other datagram to the port from counting.
public enum ProbeDatagram {
    static let marker = "meshcap-probe"

    public static func payload(to target: Endpoint, tag: String) -> [UInt8] { Array("\(marker) \(tag) \(target)".utf8) }

    /// The target a datagram of this run names; nil for anything else.
    public static func target(in payload: some Collection<UInt8>, tag: String) -> Endpoint? {
        let words = String(decoding: payload, as: UTF8.self).split(separator: " ", omittingEmptySubsequences: false)
        guard words.count == 3, words[0] == marker, words[1] == tag else { return nil }
        return Endpoint(parsing: String(words[2]))
    }
}
