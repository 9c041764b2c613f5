import MeshCapture
import Testing
import TestSupport

/// A CIDR list as an interval set holds it (see `Aggregation`), over lists drawn at random
/// (seeded: see `SeededRandom`): crowded into a small space so that duplicates, nesting and
/// halves are common.
@Suite struct AggregationTests {
    static func randomList(_ random: inout SeededRandom, family: Family) -> [Prefix] {
        (0..<Int.random(in: 1...40, using: &random)).map { _ in
            // Within 10.0.0.0/22 or 2001:db8::/118: 1,024 addresses.
            let offset = UInt32.random(in: 0..<1024, using: &random)
            let length = Int.random(in: 22...32, using: &random)
            let address: IPAddress = family == .ipv4 ? .v4(0x0a00_0000 | offset) : .v6(UInt128(0x2001_0db8) << 96 | UInt128(offset))
            let width = address.width
            let prefix = try? Prefix(network: masked(address, width - 32 + length), length: width - 32 + length)
            return prefix ?? Prefix(host: address)
        }
    }

    static func masked(_ address: IPAddress, _ length: Int) -> IPAddress {
        switch address {
        case .v4(let value): .v4(length == 0 ? 0 : value & ~((UInt32(1) << (32 - length)) &- 1))
        case .v6(let value): .v6(length == 128 ? value : value & ~((UInt128(1) << (128 - length)) &- 1))
        }
    }

    @Test(arguments: Family.allCases)
    func setHoldsExactlyTheListedAddressesAsFewestNonOverlappingCIDRs(_ family: Family) {
        var random = SeededRandom.forTest("aggregation-\(family)")
        for round in 0..<150 {
            let listed = Self.randomList(&random, family: family)
            let aggregation = Aggregation(listed)
            let elements = aggregation.prefixes
            let context = "seed \(SeededRandom.seed), round \(round): \(listed)"
            // Every address of the space is in the set exactly when the list has it.
            for offset in UInt32(0)..<1024 {
                let address: IPAddress = family == .ipv4 ? .v4(0x0a00_0000 | offset) : .v6(UInt128(0x2001_0db8) << 96 | UInt128(offset))
                let inList = listed.contains { $0.contains(address) }
                let inSet = elements.filter { $0.contains(address) }.count
                if inSet != (inList ? 1 : 0) {
                    Issue.record("\(address): in \(inSet) elements, listed: \(inList); \(context)")
                    break
                }
            }
            // Sorted, and no two halves of one prefix left apart.
            #expect(elements == elements.sorted(), "\(context)")
            for (lower, upper) in zip(elements, elements.dropFirst()) {
                #expect(!(lower.length == upper.length && lower.parent == upper.parent), "\(lower) and \(upper) are halves; \(context)")
            }
            // Once is enough, and every listed prefix is accounted for by one merge or one element.
            #expect(Aggregation(elements).prefixes == elements && Aggregation(elements).merges.isEmpty, "\(context)")
            #expect(aggregation.merges.reduce(0) { $0 + $1.listed.count } + elements.count - aggregation.merges.count == listed.count, "\(context)")
        }
    }

    @Test func mergesAreNamed() {
        let parse = { (text: String) in (try? Prefix.parse(Substring(text)))! }
        let aggregation = Aggregation(["10.0.0.128/25", "10.0.0.0/25", "10.0.1.0/24", "192.168.0.0/16", "192.168.1.0/24", "172.16.0.1", "172.16.0.1"].map(parse))
        #expect(aggregation.prefixes.map(\.description) == ["10.0.0.0/23", "172.16.0.1/32", "192.168.0.0/16"])
        #expect(aggregation.merges.map(\.description) == [
            "10.0.0.0/25, 10.0.0.128/25 and 10.0.1.0/24 are one set element, 10.0.0.0/23",
            "172.16.0.1/32 is listed twice",
            "192.168.0.0/16 and 192.168.1.0/24 are one set element, 192.168.0.0/16 (the other lies inside it)",
        ])
    }
}
