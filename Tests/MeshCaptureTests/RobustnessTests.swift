import Testing
@testable import MeshCapture

/// Whatever the input holds, parsing either succeeds or reports a problem: never a crash.
@Suite struct RobustnessTests {
    static let alphabet = Array("0123456789abcdefx.:/,*-_ $'\"#\\;\t=ÿ∞\n")
    static let seeds = ["", "::", "/", "0x", "255.255.255.255/32", "65535", "4294967295", "*", ",", "fe80::1%eth0", "1:2:3:4:5:6:7:8:9"]

    static func randomValues(_ count: Int) -> [String] {
        var generator = SystemRandomNumberGenerator()
        return seeds + (0..<count).map { length in
            String((0..<(length % 24)).map { _ in alphabet.randomElement(using: &generator) ?? "x" })
        }
    }

    @Test(arguments: ConfigKey.all.filter(\.shapesRules).map(\.name))
    func arbitraryValuesNeverCrash(key: String) throws {
        let apply = try #require(ConfigLoader.key(named: key)?.apply)
        for value in Self.randomValues(300) {
            var config = InterceptConfig()
            do { try apply(&config, value, noAccounts) } catch { #expect(!error.problem.isEmpty) }
        }
    }

    @Test func arbitraryFileTextNeverCrashes() {
        for text in Self.randomValues(2000) {
            if case .failure(let failure) = EnvFile.parse("K=" + text + "\n" + text, path: "f") {
                #expect(!failure.errors.isEmpty)
            }
        }
    }
}
