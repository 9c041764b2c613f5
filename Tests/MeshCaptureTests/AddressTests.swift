import Testing
import TestSupport
@testable import MeshCapture

@Suite struct AddressTests {
    @Test(arguments: [
        ("10.96.0.0", "10.96.0.0"), ("::1", "::1"), ("::127.0.0.53", "::7f00:35"),
        ("2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("2001:db8::", "2001:db8::"),
        ("fe80:0:0:1::", "fe80:0:0:1::"), ("1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"),
    ])
    func addressesPrintInRFC5952Form(input: String, printed: String) throws {
        let address = try #require(IPAddress(input))
        #expect(address.description == printed)
    }

    /// Written digit by digit for speed: every number of every part, and random addresses,
    /// print as the four numbers and read back.
    @Test func ipv4AddressesPrintAsTheirFourNumbers() {
        var random = SeededRandom.forTest("ipv4AddressesPrintAsTheirFourNumbers")
        let edges = (0...255).map { UInt32($0) * 0x0101_0101 } + [0x0a00_0001, 0x6440_0a80, 0x0009_6300]
        for value in edges + (0..<5000).map({ _ in UInt32(truncatingIfNeeded: random.next()) }) {
            let expected = "\(value >> 24).\(value >> 16 & 255).\(value >> 8 & 255).\(value & 255)"
            #expect(IPAddress.v4(value).description == expected, "seed \(SeededRandom.seed)")
            #expect(IPAddress(expected) == .v4(value))
        }
    }

    /// Every IPv4 prefix length, each on seeded networks: the address, a slash, the length; read back.
    @Test func ipv4PrefixesPrintAsAddressSlashLength() throws {
        var random = SeededRandom.forTest("ipv4PrefixesPrintAsAddressSlashLength")
        for length in 0...32 {
            for value in [0, UInt32.max] + (0..<50).map({ _ in UInt32(truncatingIfNeeded: random.next()) }) {
                let mask = length == 0 ? 0 : UInt32.max << (32 - length)
                let prefix = try Prefix(network: .v4(value & mask), length: length)
                #expect(prefix.description == "\(IPAddress.v4(value & mask))/\(length)", "seed \(SeededRandom.seed)")
                #expect(try Prefix.parse(Substring(prefix.description)) == prefix)
            }
        }
    }

    @Test(arguments: ["10.0.0", "010.0.0.1", "256.1.1.1", "1.2.3.4.5", ":::", "1::2::3", "12345::", "g::1", "1:2:3:4:5:6:7:8:9", ""])
    func malformedAddressesAreRefused(input: String) {
        #expect(IPAddress(input) == nil)
    }

    @Test func hostBitsAreNamed() {
        #expect(throws: PrefixError.hostBitsSet(network: try! Prefix.parse("10.0.0.0/8"), hostBits: .v4(0x0000_0001))) {
            try Prefix.parse("10.0.0.1/8")
        }
    }

    @Test func interfaceNotationMasksToItsNetwork() throws {
        #expect(try Prefix.parseMasking("127.0.0.1/8").description == "127.0.0.0/8")
    }

    @Test func bareAddressIsAHostPrefix() throws {
        #expect(try Prefix.parse("192.0.2.1").isHost)
        #expect(try Prefix.parse("::1").length == 128)
    }
}
