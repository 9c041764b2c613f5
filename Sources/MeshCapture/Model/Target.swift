/// What a rule does when it matches: a verdict (accept, drop, return, jump) or a netfilter
/// action (redirect, TPROXY, marks, conntrack zone), each of which ends the rule.
public enum Target: Sendable, Hashable {
    case accept
    case drop
    case `return`
    case jump(ChainName)
    /// NAT to a local port (`REDIRECT --to-ports` / `redirect to :PORT`).
    case redirect(toPort: Port)
    /// Transparent proxy to a local port, marking the packet and accepting it.
    case tproxy(toPort: Port, mark: UInt32)
    case setMark(UInt32)
    /// Copy the packet mark to the connection (`CONNMARK --save-mark` / `ct mark set meta mark`).
    case saveMarkToConnection
    /// Copy the connection mark to the packet (`CONNMARK --restore-mark` / `meta mark set ct mark`).
    case restoreMarkFromConnection
    /// Put the connection into a conntrack zone (`CT --zone` / `ct zone set`).
    case conntrackZone(UInt16)

    /// The chain this target continues in, if it is a jump.
    public var jumpTarget: ChainName? {
        if case .jump(let chain) = self { chain } else { nil }
    }
}
