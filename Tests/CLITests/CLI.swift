import Foundation
import TestSupport

/// Runs meshcap with a config file holding `config` (if any) and an --output-dir that does not
/// exist yet, and reports whether anything was written there.
func compile(config: String?, encoding: String.Encoding = .utf8, _ arguments: [String] = []) throws -> (result: ProcessResult, wroteOutput: Bool) {
    let work = try temporaryDirectory("cli")
    defer { try? FileManager.default.removeItem(at: work) }
    var args = ["compile", "--output-dir", work.appendingPathComponent("out").path]
    if let config {
        let file = work.appendingPathComponent("input.env")
        try config.write(to: file, atomically: true, encoding: encoding)
        args += ["--config", file.path]
    }
    let result = try run(meshcap, args + arguments)
    return (result, FileManager.default.fileExists(atPath: work.appendingPathComponent("out").path))
}
