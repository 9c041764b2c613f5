import Testing
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
