import MeshCapture
import NftablesBackend
import Testing
import TestSupport

/// Reading an interval set back: the kernel dumps its elements highest first, which
/// `NamedSetMessages.prefixes` takes without sorting; any other order must give the same prefixes.
@Suite struct SetReadingTests {
    /// Random prefixes of a family, none overlapping, some touching (one's end is the next one's
    /// start), as a set's start and interval-end elements the way meshcap writes them.
    static func draw(_ family: Family, _ random: inout SeededRandom) throws -> (prefixes: [Prefix], elements: [(address: IPAddress, intervalEnd: Bool)]) {
        var prefixes: [Prefix] = [], block: UInt64 = 0
        for _ in 0..<Int.random(in: 1...40, using: &random) {
            // Each prefix in a block of its own, a block of 256 addresses (v4) or 2^64 (v6);
            // blocks skipped now and then, so that some neighbours touch and some do not.
            block += UInt64.random(in: 1...2, using: &random)
            let length = family == .ipv4 ? Int.random(in: 24...30, using: &random) : Int.random(in: 64...126, using: &random)
            let address: IPAddress = family == .ipv4 ? .v4(0x0a00_0000 | UInt32(block) << 8) : .v6(UInt128(0xfd00) << 112 | UInt128(block) << 64)
            prefixes.append(try Prefix(network: address, length: length))
        }
        var elements: [(address: IPAddress, intervalEnd: Bool)] = []
        for prefix in prefixes {
            elements.append((prefix.address, false))
            let end: IPAddress = switch prefix.last {
            case .v4(let value): .v4(value + 1)
            case .v6(let value): .v6(value + 1)
            }
            elements.append((end, true))
        }
        return (prefixes, elements)
    }

    @Test(arguments: [Family.ipv4, .ipv6]) func prefixesComeBackFromAnyOrderOfElements(family: Family) throws {
        var random = SeededRandom.forTest("prefixesComeBackFromAnyOrderOfElements \(family)")
        for _ in 0..<200 {
            let (prefixes, elements) = try Self.draw(family, &random)
            // The kernel's order (highest first, an interval end after a start at the same
            // address), and a shuffle, which takes the sort.
            let kernel = Array(elements.sorted { $0.address != $1.address ? $0.address > $1.address : !$0.intervalEnd && $1.intervalEnd })
            for arranged in [kernel, elements.shuffled(using: &random)] {
                let read = try #require(NamedSetMessages.prefixes(arranged, family: family), "seed \(SeededRandom.seed): \(prefixes)")
                #expect(read.map(\.prefix) == prefixes, "seed \(SeededRandom.seed)")
                // Each prefix names its start element, which is the one carrying its counter.
                #expect(read.allSatisfy { arranged[$0.start].address == $0.prefix.address && !arranged[$0.start].intervalEnd }, "seed \(SeededRandom.seed)")
            }
        }
    }

    @Test func aRangeThatIsNoPrefixOrAnotherFamilyIsRefused() throws {
        let ten = IPAddress.v4(0x0a00_0000)
        // 10.0.0.0 to 10.0.0.2 is three addresses: no prefix.
        #expect(NamedSetMessages.prefixes([(.v4(0x0a00_0003), true), (ten, false)], family: .ipv4) == nil)
        #expect(NamedSetMessages.prefixes([(.v4(0x0a00_0004), true), (ten, false)], family: .ipv6) == nil)
        #expect(NamedSetMessages.prefixes([(.v4(0x0a00_0004), true), (ten, false)], family: .ipv4)?.map(\.prefix) == [try Prefix.parse("10.0.0.0/30")])
    }
}
