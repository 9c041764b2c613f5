import Foundation
import IptablesBackend
import MeshCapture
import NftablesBackend
import Testing
import TestSupport

/// Istio's own test cases (../shared/conformance): every case's `.env` is compiled with each
/// backend, loaded into a fresh network namespace by the corpus' canon.sh, and the kernel's
/// normalized view must equal Istio's byte for byte (nft through nftsort.py).
@Suite struct ConformanceTests {
    @Test(.needsRoot, .needsCorpus)
    func everyIstioCaseLoadsToIstiosKernelView() throws {
        let cases = Prerequisites.corpus.appendingPathComponent("cases")
        let names = try FileManager.default.contentsOfDirectory(atPath: cases.path)
            .filter { $0.hasSuffix(".env") }.map { String($0.dropLast(4)) }.sorted()
        let accounts = try AccountDatabase(groupPath: Prerequisites.corpus.appendingPathComponent("canon.group").path)
        var iptables = (passed: 0, total: 0), nft = (passed: 0, total: 0)
        var failures: [String] = []

        for name in names {
            let file = { (suffix: String) in cases.appendingPathComponent("\(name).\(suffix)") }
            let plan = CapturePlan(try ConfigLoader.load(files: [file("env").path], flags: [], accounts: accounts).config)

            if FileManager.default.fileExists(atPath: file("v4.canon").path) {
                iptables.total += 1
                var ok = true
                for (family, suffix) in [(Family.ipv4, "v4"), (.ipv6, "v6")] {
                    let expected = try? String(contentsOf: file("\(suffix).canon"), encoding: .utf8)
                    let ours = plan.config.families.contains(family) ? IptablesRenderer.render(plan.ruleset(for: .xtables(family))) : nil
                    guard let expected, let ours else {
                        if expected != nil || ours != nil {
                            ok = false
                            failures.append("\(name) \(suffix): Istio has \(expected == nil ? "no" : "a") \(suffix) ruleset, meshcap \(ours == nil ? "none" : "one")")
                        }
                        continue
                    }
                    let actual = try canon(["iptables", "-", suffix], input: ours)
                    if actual != expected {
                        ok = false
                        failures.append(unifiedDiff(expected: expected, actual: actual, label: "\(name).\(suffix).canon"))
                    }
                }
                if ok { iptables.passed += 1 }
            }

            nft.total += 1
            let expected = try nftsort(String(contentsOf: file("nft.canon"), encoding: .utf8))
            let actual = try nftsort(canon(["nft", "-"], input: NftRenderer.render(plan.ruleset(for: .inet))))
            if actual == expected {
                nft.passed += 1
            } else {
                failures.append(unifiedDiff(expected: expected, actual: actual, label: "\(name).nft.canon (sorted)"))
            }
        }
        print("conformance: iptables \(iptables.passed)/\(iptables.total), nft \(nft.passed)/\(nft.total)")
        #expect(iptables.total == 21 && nft.total == 22, "the corpus README counts 21 iptables and 22 nft cases")
        for failure in failures { Issue.record(Comment(rawValue: failure)) }
    }

    func canon(_ arguments: [String], input: String) throws -> String {
        let result = try run(Prerequisites.corpus.appendingPathComponent("canon.sh").path, arguments, input: input)
        guard result.status == 0 else { throw LoadFailure(description: "canon.sh \(arguments.joined(separator: " ")): \(result.stderr)") }
        return result.stdout
    }

    func nftsort(_ text: String) throws -> String {
        try run(Prerequisites.corpus.appendingPathComponent("nftsort.py").path, ["-"], input: text).stdout
    }
}

struct LoadFailure: Error, CustomStringConvertible {
    let description: String
}
