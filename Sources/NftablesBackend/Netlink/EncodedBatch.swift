import CMnl
import CNftnl
import Glibc

/// A batch laid out as netlink messages in libnftnl pages, ready for one sendmsg(2).
/// Sequence numbers run from `firstSequence` (BATCH_BEGIN) upwards, one per operation.
public final class EncodedBatch {
    private let batch: OpaquePointer
    public let firstSequence: UInt32
    public let operations: [NetlinkBatch.Operation]

    /// 2 MiB pages, plus room for the largest message so one never straddles two pages.
    private static let pageSize: UInt32 = 2 * 1024 * 1024
    private static let overrun: UInt32 = 64 * 1024 + 4096

    /// - Parameter generation: the ruleset generation the batch was built against; the kernel
    ///   refuses the whole batch (ERESTART) if the ruleset changed since (NFNL_BATCH_GENID).
    public init(_ source: NetlinkBatch, firstSequence: UInt32, generation: UInt32? = nil) {
        guard let batch = nftnl_batch_alloc(Self.pageSize, Self.overrun) else { fatalError("libnftnl could not allocate a batch") }
        self.batch = batch
        self.firstSequence = firstSequence
        self.operations = source.operations
        var sequence = firstSequence
        if let begin = nftnl_batch_begin(buffer, sequence), let generation {
            mnl_attr_put_u32(begin.withMemoryRebound(to: CMnl.nlmsghdr.self, capacity: 1) { $0 }, UInt16(NFNL_BATCH_GENID.rawValue), generation.bigEndian)
        }
        nftnl_batch_update(batch)
        for operation in operations {
            sequence &+= 1
            let message = nftnl_nlmsg_build_hdr(buffer, operation.messageType, UInt16(operation.family), operation.messageFlags, sequence)
            if let message { operation.build(into: message) }
            nftnl_batch_update(batch)
        }
        nftnl_batch_end(buffer, sequence &+ 1)
        nftnl_batch_update(batch)
    }

    deinit { nftnl_batch_free(batch) }

    private var buffer: UnsafeMutablePointer<CChar> {
        nftnl_batch_buffer(batch).assumingMemoryBound(to: CChar.self)
    }

    /// The operation a kernel reply's sequence number refers to; nil for BATCH_BEGIN/END.
    public func operation(sequence: UInt32) -> NetlinkBatch.Operation? {
        let index = Int(sequence &- firstSequence) - 1
        return operations.indices.contains(index) ? operations[index] : nil
    }

    /// The pages as iovecs, valid while `body` runs.
    public func withIOVecs<Result>(_ body: ([iovec]) throws -> Result) rethrows -> Result {
        let count = nftnl_batch_iovec_len(batch)
        var vectors = [iovec](repeating: iovec(), count: Int(count))
        vectors.withUnsafeMutableBufferPointer { nftnl_batch_iovec(batch, $0.baseAddress, UInt32(count)) }
        return try body(vectors)
    }

    public var byteCount: Int { withIOVecs { $0.reduce(0) { $0 + $1.iov_len } } }
}
