import Glibc
import MeshCapture

/// One DNS question over UDP (RFC 1035), enough for `doctor` to ask a resolver from resolv.conf
/// directly: the C library would read the machine's own resolv.conf, not the one being checked.
enum DNSQuery {
    enum RecordType: UInt16 {
        case a = 1
        case aaaa = 28
    }

    enum Answer: Equatable {
        case addresses([IPAddress])
        /// NXDOMAIN: the name does not exist.
        case noSuchName
        /// The name exists, with no record of this type.
        case noAddress
        case failed(String)
    }

    static func ask(_ name: String, type: RecordType, server: IPAddress, timeout: Double) -> Answer {
        guard let question = question(name, type: type, id: UInt16.random(in: 0...UInt16.max)) else {
            return .failed("\(name) is not a DNS name")
        }
        let family = server.family == .ipv4 ? AF_INET : AF_INET6
        let descriptor = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return .failed("socket: \(Errno.describe(errno))") }
        defer { close(descriptor) }
        var wait = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        let connected = Endpoint(server, 53).withSocketAddress { connect(descriptor, $0, $1) }
        guard connected == 0 else { return .failed("cannot reach port 53: \(Errno.describe(errno))") }
        guard question.bytes.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, 0) }) == question.bytes.count else {
            return .failed("cannot send: \(Errno.describe(errno))")
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return .failed("no answer within \(timeout) s") }
            guard count >= 0 else { return .failed(Errno.describe(errno)) }
            // Another answer (a late one to an earlier question) is not this one's.
            if let answer = parse(buffer[0..<count], id: question.id) { return answer }
        }
    }

    static func question(_ name: String, type: RecordType, id: UInt16) -> (bytes: [UInt8], id: UInt16)? {
        // Header: id, flags (recursion desired), one question.
        var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            let utf8 = Array(label.utf8)
            guard !utf8.isEmpty, utf8.count < 64 else { return nil }
            bytes.append(UInt8(utf8.count))
            bytes += utf8
        }
        guard bytes.count - 12 < 255 else { return nil }
        bytes += [0, UInt8(type.rawValue >> 8), UInt8(type.rawValue & 0xff), 0, 1]
        return (bytes, id)
    }

    /// The addresses of an answer to question `id`, or nil when this is no answer to it.
    static func parse(_ message: ArraySlice<UInt8>, id: UInt16) -> Answer? {
        let bytes = Array(message)
        func u16(_ at: Int) -> Int? { at + 1 < bytes.count ? Int(bytes[at]) << 8 | Int(bytes[at + 1]) : nil }
        guard let gotID = u16(0), gotID == Int(id), let flags = u16(2), flags & 0x8000 != 0,
              let questions = u16(4), let answers = u16(6) else { return nil }
        // Truncated: what is there may lack the addresses (the C library would ask over TCP).
        if flags & 0x0200 != 0 { return .failed("a truncated answer (TC), which doctor does not retry over TCP") }
        switch flags & 0xf {
        case 0: break
        case 3: return .noSuchName
        case let code: return .failed("the server answered with error code \(code)")
        }
        /// Past a (possibly compressed) name.
        func skipName(_ at: Int) -> Int? {
            var at = at
            while at < bytes.count {
                let length = Int(bytes[at])
                if length == 0 { return at + 1 }
                if length & 0xc0 == 0xc0 { return at + 2 }
                at += 1 + length
            }
            return nil
        }
        var at = 12
        for _ in 0..<questions {
            guard let next = skipName(at) else { return .failed("a malformed answer") }
            at = next + 4
        }
        var found: [IPAddress] = []
        for _ in 0..<answers {
            guard let next = skipName(at), let type = u16(next), let length = u16(next + 8), next + 10 + length <= bytes.count else {
                return .failed("a malformed answer")
            }
            let data = bytes[(next + 10)..<(next + 10 + length)]
            if type == Int(RecordType.a.rawValue), length == 4 {
                found.append(.v4(data.reduce(0) { $0 << 8 | UInt32($1) }))
            } else if type == Int(RecordType.aaaa.rawValue), length == 16 {
                found.append(.v6(data.reduce(0) { $0 << 8 | UInt128($1) }))
            }
            at = next + 10 + length
        }
        return found.isEmpty ? .noAddress : .addresses(found)
    }
}
