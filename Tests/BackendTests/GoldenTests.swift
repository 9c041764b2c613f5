import Foundation
import IptablesBackend
import MeshCapture
import NftablesBackend
import Testing
import TestSupport

/// Every bundled profile's output, per backend, is pinned in Goldens/<profile>/ (written by the
/// CLI: --output-dir, and --backend netlink for batch.netlink; `make goldens` regenerates them).
@Suite struct GoldenTests {
    static let profiles: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: packageRoot.appendingPathComponent("Rules").path)) ?? []
        return names.filter { $0.hasSuffix(".env") }.map { String($0.dropLast(4)) }.sorted()
    }()

    static func outputs(_ profile: String) throws -> [String: String] {
        let path = packageRoot.appendingPathComponent("Rules/\(profile).env").path
        let config = try ConfigLoader.load(files: [path], flags: [], accounts: AccountDatabase(users: [:], groups: [:])).config
        let plan = CapturePlan(config)
        var files = ["rules.v4": IptablesRenderer.render(plan.ruleset(for: .xtables(.ipv4))),
                     "rules.nft": NftRenderer.render(plan.ruleset(for: .inet))]
        if config.ipv6 { files["rules.v6"] = IptablesRenderer.render(plan.ruleset(for: .xtables(.ipv6))) }
        files["batch.netlink"] = try NetlinkBatch.replacing(with: plan.ruleset(for: .inet)) { _, _ in nil }.text
        return files
    }

    @Test func thereAreAtLeastEightProfiles() {
        #expect(Self.profiles.count >= 8)
    }

    @Test(arguments: profiles)
    func profileMatchesItsGoldens(profile: String) throws {
        let directory = packageRoot.appendingPathComponent("Goldens/\(profile)")
        let outputs = try Self.outputs(profile)
        let goldenNames = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        #expect(Set(goldenNames) == Set(outputs.keys), "Goldens/\(profile) holds \(goldenNames.sorted()); run `make goldens`")
        for (name, actual) in outputs.sorted(by: { $0.key < $1.key }) {
            let expected = (try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)) ?? ""
            #expect(actual == expected, "\(unifiedDiff(expected: expected, actual: actual, label: "Goldens/\(profile)/\(name)"))\nIf the change is intended: make goldens")
        }
    }

    @Test func everyGoldenDirectoryHasAProfile() throws {
        let directories = try FileManager.default.contentsOfDirectory(atPath: packageRoot.appendingPathComponent("Goldens").path)
        #expect(Set(directories) == Set(Self.profiles))
    }
}
