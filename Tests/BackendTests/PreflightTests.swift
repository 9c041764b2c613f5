@testable import HostOps
import MeshCapture
import Testing

/// What doctor reads of the host, without the host: how names are tried, what a DNS answer
/// says, which ports listen.
@Suite struct PreflightTests {
    func resolver(_ text: String) -> NameLookup.Resolver {
        NameLookup.Resolver(InputFile.lines(of: text, name: "resolv.conf"))
    }

    @Test func candidatesFollowNdotsAndTheLastSearchLine() {
        let aws = resolver("domain ec2.internal\nsearch cluster.local ec2.internal\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\n")
        #expect(aws.nameservers == [IPAddress("10.0.0.2")!])
        // Two dots reach ndots 1: the name as written first.
        #expect(aws.candidates(for: "istiod.istio-system.svc") == ["istiod.istio-system.svc", "istiod.istio-system.svc.cluster.local", "istiod.istio-system.svc.ec2.internal"])
        #expect(aws.candidates(for: "istiod") == ["istiod.cluster.local", "istiod.ec2.internal", "istiod"])
        #expect(aws.candidates(for: "istiod.istio-system.svc.") == ["istiod.istio-system.svc"])
        // Kubernetes' ndots:5: the search domains first.
        let pod = resolver("search default.svc.cluster.local svc.cluster.local\noptions edns0 ndots:5\n")
        #expect(pod.candidates(for: "istiod.istio-system.svc") == ["istiod.istio-system.svc.default.svc.cluster.local", "istiod.istio-system.svc.svc.cluster.local", "istiod.istio-system.svc"])
    }

    @Test func theHostsFileMatchesAliasesWithoutCaseAndSkipsComments() {
        let hosts = InputFile.lines(of: "127.0.0.1 localhost\n# 10.0.0.9 istiod.istio-system.svc\n10.0.0.5\tistiod istiod.istio-system.svc # east-west\nfd00::5 ISTIOD.istio-system.svc\n", name: "hosts")
        #expect(NameLookup.hostsFile(hosts, name: "istiod.istio-system.svc") == [IPAddress("10.0.0.5")!, IPAddress("fd00::5")!])
        #expect(NameLookup.hostsFile(hosts, name: "istiod.istio-system.svc.").count == 2)
        #expect(NameLookup.hostsFile(hosts, name: "east-west").isEmpty)
    }

    /// A reply as a server writes it: the question echoed, answers named by a pointer to it.
    func reply(id: UInt16, rcode: UInt8 = 0, answers: [(type: UInt16, data: [UInt8])]) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x81, 0x80 | rcode, 0, 1, 0, UInt8(answers.count), 0, 0, 0, 0]
        bytes += DNSQuery.question("istiod.istio-system.svc", type: .a, id: id)!.bytes.dropFirst(12)
        for answer in answers {
            bytes += [0xc0, 0x0c, UInt8(answer.type >> 8), UInt8(answer.type & 0xff), 0, 1, 0, 0, 0, 60, 0, UInt8(answer.data.count)] + answer.data
        }
        return bytes
    }

    @Test func answersAreReadAndOthersAreNot() {
        let question = DNSQuery.question("istiod.istio-system.svc", type: .a, id: 0x1234)!
        #expect(Array(question.bytes.prefix(4)) == [0x12, 0x34, 0x01, 0x00])
        #expect(question.bytes.count == 12 + 25 + 4)
        #expect(DNSQuery.question("a..b", type: .a, id: 1) == nil)
        #expect(DNSQuery.question(String(repeating: "x", count: 64), type: .a, id: 1) == nil)
        let both = reply(id: 7, answers: [(5, [0xc0, 0x0c]), (1, [10, 0, 0, 5]), (28, [0xfd] + Array(repeating: 0, count: 14) + [5])])
        #expect(DNSQuery.parse(both[...], id: 7) == .addresses([IPAddress("10.0.0.5")!, IPAddress("fd00::5")!]))
        #expect(DNSQuery.parse(both[...], id: 8) == nil)
        #expect(DNSQuery.parse(reply(id: 7, rcode: 3, answers: [])[...], id: 7) == .noSuchName)
        #expect(DNSQuery.parse(reply(id: 7, answers: [])[...], id: 7) == .noAddress)
        #expect(DNSQuery.parse(reply(id: 7, rcode: 2, answers: [])[...], id: 7) == .failed("the server answered with error code 2"))
        // Cut short: an answer whose data runs past the end.
        #expect(DNSQuery.parse(both.dropLast(3), id: 7) == .failed("a malformed answer"))
    }

    @Test func listeningPortsComeFromStateZeroA() {
        let table = InputFile.lines(of: """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 00000000:3A99 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1337        0 1 1 0 100 0 0 10 0
               1: 0100007F:3AB5 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
               2: 0100007F:3A99 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1337        0 3 1 0 20 4 30 10 -1
               3: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0 100 0 0 10 0
            """, name: "tcp")
        #expect(Set(table.lines.compactMap { ListeningSockets.listening(ArraySlice($0.utf8)) }) == [15001, 15029, 22])
    }
}
