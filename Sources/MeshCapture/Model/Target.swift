/// What a rule does when it matches: a verdict (accept, drop, return, jump) or a netfilter
/// action (redirect, TPROXY, marks, conntrack zone, log), each of which ends the rule. Marks,
/// zones and logging let the packet go on to the next rule.
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
    /// Log the packet with a prefix: to the kernel log (`log prefix` / `LOG --log-prefix`), or to
    /// an nfnetlink_log group (`log prefix ... group N` / `NFLOG --nflog-group N`).
    case log(prefix: String, group: UInt16?)

    /// The chain this target continues in, if it is a jump.
    public var jumpTarget: ChainName? {
        if case .jump(let chain) = self { chain } else { nil }
    }

    /// Whether it only logs, letting the packet go on (`--log`).
    public var isLog: Bool {
        if case .log = self { true } else { false }
    }
}
