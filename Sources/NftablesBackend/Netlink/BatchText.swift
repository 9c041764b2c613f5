import CNftnl
import MeshCapture

extension NetlinkBatch {
    /// The batch as reviewable text: one line per message, then one per expression in
    /// libnftnl's own format (what `nft --debug=netlink` prints).
    public var text: String {
        var lines = ["# meshcap: one nf_tables batch (BATCH_BEGIN ... BATCH_END), replacing meshcap's tables"]
        for operation in operations {
            if case .addRule(let kind, let chain, let index, let rule, _) = operation {
                lines.append("add rule inet \(NftNames.table(kind)) \(NftNames.chain(chain)) # \(index): \(NftRenderer.statement(rule))")
            } else {
                lines.append(operation.description)
            }
            switch operation {
            case .addChain(let kind, .builtin(let hook)):
                lines.append("  type \(NftNames.chainType(kind, hook)) hook \(hook.rawValue) priority \(kind.priority(at: hook)) policy accept")
            case .addSet(_, let set):
                lines.append("  __set%d flags anonymous,constant key inet_service (2 bytes) size \(set.ports.count)")
            case .addElements(_, let set):
                lines += set.ports.map { "  element \(Encoding.bigEndian($0).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())" }
            case .addRule(let kind, let chain, _, _, let expressions):
                let rule = NftnlRule(family: UInt32(NFPROTO_INET), table: NftNames.table(kind), chain: NftNames.chain(chain))
                for expression in expressions { expression.append(to: rule) }
                lines += rule.text.split(separator: "\n").filter { $0.hasPrefix("  [") }.map(String.init)
            default:
                break
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
