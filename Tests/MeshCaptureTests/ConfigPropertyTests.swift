import Foundation
import Testing
@testable import MeshCapture
import TestSupport

/// Properties of reading configs, over configs drawn at random (seeded: see `SeededRandom`).
/// Each is stronger than "does not crash": the same config written differently must load to the
/// same result, and a broken line must be named.
@Suite struct ConfigPropertyTests {
    static let rounds = 150

    let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("meshcap-prop-\(UUID())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    func write(lines: [String], ending: String, bom: Bool = false, _ name: String) throws -> String {
        try write((bom ? [0xef, 0xbb, 0xbf] : []) + Array(lines.joined(separator: ending).utf8) + Array(ending.utf8), name)
    }

    func load(_ paths: [String], flags: [String] = []) throws(ConfigErrors) -> LoadedConfig {
        try ConfigLoader.load(files: paths, flags: flags, accounts: noAccounts, resolvConf: "/dev/null")
    }

    @Test func lineEndingsAndAByteOrderMarkChangeNothing() throws {
        var generator = ConfigGenerator(random: .forTest(#function))
        defer { try? FileManager.default.removeItem(at: directory) }
        for round in 0..<Self.rounds {
            let lines = generator.document(generator.entries())
            let reference = try load([write(lines: lines, ending: "\n", "lf-\(round)")])
            for (label, ending, bom) in [("CRLF", "\r\n", false), ("CR", "\r", false), ("BOM+LF", "\n", true), ("BOM+CRLF", "\r\n", true)] {
                let loaded = try load([write(lines: lines, ending: ending, bom: bom, "\(label)-\(round)")])
                #expect(loaded.config == reference.config, "\(label) differs from LF; seed \(SeededRandom.seed), round \(round):\n\(lines.joined(separator: "\n"))")
                #expect(loaded.notes.contains { $0.contains(bom ? "byte-order mark" : "line ends read as line ends") },
                        "\(label) not reported under --verbose; seed \(SeededRandom.seed)")
            }
            // Mixed endings in one file, as an editor that touched some lines leaves it.
            var mixed: [UInt8] = []
            for line in lines { mixed += Array(line.utf8) + Array(generator.pick(["\n", "\r\n", "\r"]).utf8) }
            #expect(try load([write(mixed, "mixed-\(round)")]).config == reference.config, "mixed endings; seed \(SeededRandom.seed), round \(round)")
        }
    }

    @Test func theOrderOfDistinctKeysChangesNothing() throws {
        var generator = ConfigGenerator(random: .forTest(#function))
        defer { try? FileManager.default.removeItem(at: directory) }
        for round in 0..<Self.rounds {
            let entries = generator.entries()
            let reference = try load([write(lines: generator.document(entries), ending: "\n", "a-\(round)")])
            let shuffled = entries.shuffled(using: &generator.random)
            let loaded = try load([write(lines: generator.document(shuffled), ending: "\n", "b-\(round)")])
            #expect(loaded.config == reference.config, "seed \(SeededRandom.seed), round \(round)")
        }
    }

    /// A flag replaces the value of a key the file does set, exactly as if the file said it.
    @Test func aFlagOverridesAKeyTheFileSets() throws {
        var generator = ConfigGenerator(random: .forTest(#function))
        defer { try? FileManager.default.removeItem(at: directory) }
        var checked = 0
        for round in 0..<Self.rounds {
            let entries = generator.entries()
            let withFlags = entries.indices.filter { ConfigLoader.key(named: entries[$0].canonical)?.flags.isEmpty == false }
            guard let index = withFlags.randomElement(using: &generator.random),
                  let key = ConfigLoader.key(named: entries[index].canonical),
                  let other = generator.value(for: key.name) else { continue }
            let file = try write(lines: generator.document(entries), ending: "\n", "file-\(round)")
            var edited = entries
            edited[index].value = other
            let expected = try load([write(lines: generator.document(edited), ending: "\n", "edited-\(round)")])
            let flag = generator.pick(key.flags)
            let arguments = key.isSwitch || generator.chance(0.5) ? ["\(flag)=\(other)"] : [flag, other]
            #expect(try load([file], flags: arguments).config == expected.config,
                    "\(arguments) over \(entries[index].written)=\(entries[index].value); seed \(SeededRandom.seed), round \(round)")
            checked += 1
        }
        #expect(checked > Self.rounds / 2, "too few rounds had a key with a flag: \(checked)")
    }

    /// A NUL or a byte that is not UTF-8, anywhere in any line (comments too), is an error that
    /// names that line.
    @Test func aCorruptByteIsReportedOnItsLine() throws {
        var generator = ConfigGenerator(random: .forTest(#function))
        defer { try? FileManager.default.removeItem(at: directory) }
        for round in 0..<Self.rounds {
            var lines = generator.document(generator.entries()).map { Array($0.utf8) }
            if lines.isEmpty { lines = [Array("# only a comment".utf8)] }
            let target = generator.int(0...(lines.count - 1))
            let bad: UInt8 = generator.pick([0x00, 0xff, 0xc3, 0x80, 0xfe])
            lines[target].insert(bad, at: generator.int(0...lines[target].count))
            let ending = Array(generator.pick(["\n", "\r\n", "\r"]).utf8)
            let path = try write(lines.flatMap { $0 + ending }, "corrupt-\(round)")
            do throws(ConfigErrors) {
                _ = try load([path])
                Issue.record("byte 0x\(String(bad, radix: 16)) on line \(target + 1) was accepted; seed \(SeededRandom.seed), round \(round)")
            } catch {
                #expect(error.errors.contains { $0.origin == .file(path: path, line: target + 1) },
                        "\(error.errors.map(\.description)) does not name line \(target + 1); seed \(SeededRandom.seed), round \(round)")
            }
        }
    }

    /// Arbitrary text, with CR, tabs, quotes, NUL, a BOM and long lines: either it loads, or
    /// every error points at a line that exists, and nothing hangs or traps.
    @Test func arbitraryTextLoadsOrNamesRealLines() throws {
        var generator = ConfigGenerator(random: .forTest(#function))
        defer { try? FileManager.default.removeItem(at: directory) }
        let pieces = ["PROXY_PORT", "ISTIO_SERVICE_CIDR", "=", "'", "\"", "#", " ", "\t", "\r", "\n", "\r\n", "$", "`", "\\",
                      "export", "*", ",", "10.0.0.0/8", "::1", "8080", "\u{0}", "\u{FEFF}", "é", "\u{1b}[31m", "ÿ", "true"]
        for round in 0..<Self.rounds * 4 {
            var text = generator.chance(0.1) ? "\u{FEFF}" : ""
            for _ in 0..<generator.int(0...60) { text += generator.pick(pieces) }
            if generator.chance(0.05) { text += String(repeating: "9", count: 100_000) }
            let bytes = Array(text.utf8)
            let path = try write(bytes, "text-\(round)")
            var lineCount = 1
            var index = 0
            while index < bytes.count {
                if bytes[index] == 10 || bytes[index] == 13 {
                    lineCount += 1
                    if bytes[index] == 13 && index + 1 < bytes.count && bytes[index + 1] == 10 { index += 1 }
                }
                index += 1
            }
            do throws(ConfigErrors) {
                _ = try load([path])
            } catch {
                for failure in error.errors {
                    if case .file(_, let line) = failure.origin {
                        #expect((1...lineCount).contains(line), "line \(line) of \(lineCount); seed \(SeededRandom.seed), round \(round)")
                    }
                    #expect(!failure.message.isEmpty)
                }
            }
        }
    }

    /// What apply records loads back into the config it recorded, for any config: with names,
    /// wildcards, empty lists, host defaults filled in (here the fallback UID) and every layout.
    @Test func aRecordLoadsBackIntoTheSameConfig() throws {
        var generator = ConfigGenerator(random: .forTest(#function))
        defer { try? FileManager.default.removeItem(at: directory) }
        for round in 0..<Self.rounds {
            let lines = generator.document(generator.entries())
            let original = try load([write(lines: lines, ending: "\n", "config-\(round)")]).config
            let record = original.record.map { EnvFile.assignment($0.key, $0.value) }
            let loaded = try load([write(lines: record, ending: "\n", "record-\(round)")])
            #expect(loaded.config == original, "seed \(SeededRandom.seed), round \(round):\n\(lines.joined(separator: "\n"))\nrecorded as:\n\(record.joined(separator: "\n"))")
            #expect(loaded.fromHost.isEmpty, "the record left something to the host: \(loaded.fromHost); seed \(SeededRandom.seed), round \(round)")
        }
    }

    /// Every key that shapes rules is in the record, but for the two that only feed host
    /// defaults (ENVOY_USER: PROXY_UID is recorded; ISTIO_SVC_IP: ENABLE_INBOUND_IPV6 is), so a
    /// key added to the table cannot be forgotten there.
    @Test func theRecordHasEveryRuleShapingKey() {
        var config = InterceptConfig()
        config.proxyGroupsSetting = [.id(1)]
        config.logPrefix = .some("x")
        config.logGroup = 1
        let recorded = Set(config.record.map(\.key))
        let shaping = Set(ConfigKey.all.filter(\.shapesRules).map(\.name)).subtracting(["ENVOY_USER", "ISTIO_SVC_IP"])
        #expect(recorded == shaping, "recorded but not a key: \(recorded.subtracting(shaping)); a key not recorded: \(shaping.subtracting(recorded))")
    }
}
