import CMnl
import CNftnl
import Glibc
import MeshCapture
import NftablesBackend

/// The kernel refused a batch. Nothing of it was committed: nf_tables applies a batch whole or
/// not at all, so the ruleset in force is the one from before.
public struct BatchRefused: Failure, CustomStringConvertible {
    /// The first refusal is the cause; later ones are usually its consequences.
    public let cause: String
    /// The errno of the first refusal.
    public let errno: Int32
    public let laterRefusals: Int

    /// The ruleset changed after meshcap read it, so the batch bound to that reading was refused
    /// as a whole (ERESTART): read again and rebuild.
    public var generationChanged: Bool { errno == ERESTART }

    public var description: String {
        cause + (laterRefusals > 0 ? " (and \(laterRefusals) later message\(laterRefusals == 1 ? "" : "s") refused after it)" : "")
            + "; nothing was changed"
    }

    public var exitStatus: ExitStatus { .hostError }
    public var lines: [String] { [description] }
}

/// Sends a batch as one transaction: one sendmsg(2), no per-message ACKs (an ACK does not mean
/// committed, and ten thousand of them overflow the socket), then every queued error is read.
public enum NftApply {
    /// - Parameter generation: the generation the batch was built against (see `RuleDump`); nil
    ///   sends it unconditionally.
    public static func apply(_ batch: NetlinkBatch, generation: UInt32? = nil) throws {
        let socket = try NetlinkConnection.socket()
        // BATCH_BEGIN, one per operation, BATCH_END.
        let encoded = EncodedBatch(batch, firstSequence: socket.nextSequence(count: batch.operations.count + 2), generation: generation)
        socket.forceBuffers(send: encoded.byteCount + 64 * 1024, receive: max(batch.operations.count * 1024, 1024 * 1024))
        try encoded.withIOVecs { try socket.send($0) }

        // The kernel handles the whole batch inside sendmsg: any errors are already queued.
        var refusals: [(String, Int32)] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024 + 4096)
        while let count = try socket.receive(into: &buffer, wait: false) {
            // This batch's replies only: the socket serves the whole run.
            for message in NetlinkMessage.split(buffer[0..<count]) where message.sequence &- encoded.firstSequence < UInt32(batch.operations.count + 2) {
                if let code = message.errorCode, code != 0 { refusals.append((describe(message, errno: code, in: encoded), code)) }
            }
        }
        if let first = refusals.first {
            throw BatchRefused(cause: first.0, errno: first.1, laterRefusals: refusals.count - 1)
        }
    }

    /// "rule #3 in chain istio-output (...): No such file or directory (ENOENT) at expression #4 (immediate)".
    static func describe(_ error: NetlinkMessage, errno code: Int32, in batch: EncodedBatch) -> String {
        let bytes = error.bytes
        let echoStart = bytes.startIndex + NetlinkMessage.headerLength + 4
        guard echoStart + NetlinkMessage.headerLength <= bytes.endIndex else { return Errno.describe(code) }
        let echoedSequence = bytes.u32(at: echoStart + 8)
        let operation = batch.operation(sequence: echoedSequence)
        let what = operation?.description ?? (echoedSequence == batch.firstSequence ? "the transaction" : "message \(echoedSequence)")
        var sentence = "\(what): \(Errno.describe(code))"
        if code == EPERM { sentence += " — programming rules needs CAP_NET_ADMIN: run meshcap apply as root" }

        // Without NLM_F_CAPPED the kernel echoes our whole message; with NLM_F_ACK_TLVS the
        // offset of the attribute it refused follows.
        let capped = error.flags & UInt16(NLM_F_CAPPED) != 0
        let echoLength = capped ? NetlinkMessage.headerLength : Int(bytes.u32(at: echoStart))
        guard error.flags & UInt16(NLM_F_ACK_TLVS) != 0, echoLength >= NetlinkMessage.headerLength + 4,
              echoStart + echoLength <= bytes.endIndex else { return sentence }
        let tlvs = NetlinkAttribute.walk(bytes[(echoStart + ((echoLength + 3) & ~3))...])
        guard let offsetAttribute = tlvs.first(where: { $0.type == UInt16(NLMSGERR_ATTR_OFFS.rawValue) }), !capped else { return sentence }
        guard offsetAttribute.payload.count >= 4 else { return sentence }
        let offset = Int(offsetAttribute.payload.u32(at: offsetAttribute.payload.startIndex))
        let echoed = bytes[echoStart..<(echoStart + echoLength)]
        if case .addRule = operation, let place = locateInRule(offset: echoStart + offset, in: echoed) { sentence += " at \(place)" }
        return sentence
    }

    /// Names the attribute at a byte offset of an echoed NEWRULE message.
    static func locateInRule(offset: Int, in message: ArraySlice<UInt8>) -> String? {
        let attributes = NetlinkAttribute.walk(message[(message.startIndex + NetlinkMessage.headerLength + 4)...])
        guard let attribute = attributes.last(where: { $0.start <= offset }) else { return nil }
        switch attribute.type {
        case UInt16(NFTA_RULE_EXPRESSIONS.rawValue):
            let elements = NetlinkAttribute.walk(attribute.payload)
            guard let index = elements.lastIndex(where: { $0.start <= offset }) else { return "the expressions" }
            let name = NetlinkAttribute.walk(elements[index].payload).first { $0.type == UInt16(NFTA_EXPR_NAME.rawValue) }
                .map { String(decoding: $0.payload.prefix { $0 != 0 }, as: UTF8.self) } ?? "?"
            return "expression #\(index + 1) (\(name))"
        case UInt16(NFTA_RULE_CHAIN.rawValue):
            return "the chain name (NFTA_RULE_CHAIN)"
        case UInt16(NFTA_RULE_TABLE.rawValue):
            return "the table name"
        default:
            return "attribute \(attribute.type)"
        }
    }
}
