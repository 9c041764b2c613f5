import Foundation
import MeshCapture
@testable import meshcap
import Testing
import TestSupport

/// meshcap's own command line: the parser reads back what a spec says in every form getopt_long
/// allows, and help, man page and completions name every option of every subcommand.
@Suite struct CommandLineTests {
    static let visible = Meshcap.specs.filter { !$0.hidden }

    /// Random options of each subcommand, each written in one of the forms the parser accepts,
    /// in a random order among istio-iptables flags: what is read back is what was written.
    @Test func everyOptionReadsBackInEveryForm() throws {
        var random = SeededRandom.forTest("everyOptionReadsBackInEveryForm")
        let values = ["-", "x", "a b", "=", "10.96.0.0/12", "", "ü", "--", "-b"]
        for draw in 0..<300 {
            let spec = Meshcap.specs.randomElement(using: &random)!
            // Each group: the words, and the option with the value they give it (nil: an istio flag).
            var groups: [(words: [String], option: OptionSpec?, value: String?)] = []
            for option in spec.options where Bool.random(using: &random) {
                let times = if case .flag = option.value { 1 } else { Int.random(in: 1...3, using: &random) }
                for _ in 0..<times {
                    let name = option.short != nil && Bool.random(using: &random) ? "-\(option.short!)" : "--\(option.long)"
                    guard option.takesValue else {
                        groups.append(([name], option, nil))
                        continue
                    }
                    let value = values.randomElement(using: &random)!
                    // "--name=value" carries any value; a separate word must not look like an option.
                    let inline = name.hasPrefix("--") && (Bool.random(using: &random) || (value.hasPrefix("-") && value != "-"))
                    if !inline && value.hasPrefix("-") && value != "-" { continue }
                    groups.append((inline ? ["\(name)=\(value)"] : [name, value], option, value))
                }
            }
            if spec.operands?.unknownOptionsToo == true {
                for _ in 0..<Int.random(in: 0...3, using: &random) {
                    groups.append(([["-i", "10.96.0.0/12"], ["--redirect-dns"], ["-b", "8080,9090"], ["--log=x"]].randomElement(using: &random)!, nil, nil))
                }
            }
            groups.shuffle(using: &random)
            let words = groups.flatMap(\.words)
            let context: Comment = "draw \(draw), seed \(SeededRandom.seed): meshcap \(spec.name) \(words)"
            guard case .run(let parsed) = try Arguments.parse(words, by: spec) else {
                Issue.record(context)
                continue
            }
            for option in spec.options {
                let given = groups.filter { $0.option?.long == option.long }
                switch option.value {
                case .flag: #expect(parsed.flag(option.long) == !given.isEmpty, context)
                case .single, .repeated: #expect(parsed.all(option.long) == given.compactMap(\.value), context)
                }
            }
            #expect(parsed.operands == groups.filter { $0.option == nil }.flatMap(\.words), context)
        }
    }

    @Test func wordsASubcommandDoesNotTakeAreRefusedWithWhatItTakes() throws {
        let cidr = Cidr.spec
        for words in [["--bogus"], ["dump.txt"], ["--", "x"]] {
            #expect(throws: ConfigError.self, "\(words)") { try Arguments.parse(words, by: cidr) }
        }
        do {
            _ = try Arguments.parse(["--from-cluster-dump"], by: cidr)
            Issue.record("a missing value was accepted")
        } catch {
            #expect(error.description == "flag --from-cluster-dump: no value; allowed: --from-cluster-dump <file>")
        }
        // A value that looks like an option is not taken as the value; the error says how to give one.
        do {
            _ = try Arguments.parse(["--from-cluster-dump", "--write-env", "x"], by: cidr)
            Issue.record("an option was taken as a value")
        } catch {
            #expect(error.description == #"flag --from-cluster-dump: "--write-env" is an option, not a value; allowed: --from-cluster-dump <file> (--from-cluster-dump=--write-env for a value that starts with a dash)"#)
        }
        guard case .version = try Arguments.parse(["--from-cluster-dump", "x", "--version"], by: cidr) else {
            Issue.record("--version was not the version")
            return
        }
        guard case .run(let stdin) = try Arguments.parse(["--from-cluster-dump", "-"], by: cidr) else {
            Issue.record("- was taken for help")
            return
        }
        #expect(stdin.all("from-cluster-dump") == ["-"])
        guard case .help = try Arguments.parse(["--from-cluster-dump", "x", "-h"], by: cidr) else {
            Issue.record("-h was not help")
            return
        }
    }

    /// A typo gets the nearest name, for subcommands as for config keys: `verfy`, `verify --jsn`
    /// (which went to the config loader as an unknown istio-iptables flag); `version` and `-V` are
    /// the version. An istio-iptables flag is still passed on to the loader.
    @Test func typosGetTheNearestNameAndVersionHasItsSpellings() throws {
        let subcommand = try run(meshcap, ["verfy"])
        #expect(subcommand.status == 2 && subcommand.stderr.hasPrefix(#"meshcap: "verfy" is not a subcommand (did you mean verify?); allowed: "#), "\(subcommand.stderr)")
        let option = try run(meshcap, ["verify", "--jsn"])
        #expect(option.status == 2 && option.stderr.hasPrefix(#"meshcap: meshcap verify does not take "--jsn" (did you mean --json?); allowed: --config, "#), "\(option.stderr)")
        #expect(!option.stderr.contains("unknown flag"))
        for words in [["version"], ["-V"], ["--version"]] {
            let version = try run(meshcap, words)
            #expect(version.status == 0 && version.stdout.hasPrefix("meshcap "), "\(words): \(version.stderr)")
        }
        guard case .run(let passed) = try Arguments.parse(["--json", "-i", "10.0.0.0/8", "--redirect-dns"], by: VerifyCommand.spec) else {
            Issue.record("the words were not run")
            return
        }
        #expect(passed.operands == ["-i", "10.0.0.0/8", "--redirect-dns"] && passed.flag("json"))
    }

    /// FILES, ENVIRONMENT and EXIT STATUS: the man page and `meshcap --help` say the same, each
    /// entry of the one declaration in each.
    @Test func filesEnvironmentAndExitStatusAreInHelpAndTheManPage() throws {
        let manual = try ManualPage.render(date: "2025-11-27", version: "v", abstract: "a", discussion: "d", subcommands: Meshcap.specs)
        let help = Help.overview(abstract: "a", discussion: "d", subcommands: Meshcap.specs)
        let words = { (text: String) in text.split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " ") }
        for section in ["ENVIRONMENT", "FILES", "EXIT STATUS"] { #expect(manual.contains(".Sh \(section)\n"), "\(section)") }
        for entry in Reference.files + Reference.environment + Reference.exitStatuses {
            #expect(manual.contains(entry.name) && manual.contains(ManualPage.text(entry.meaning)), "the man page lacks \(entry.name)")
            #expect(words(help).contains(words(entry.meaning)) && help.contains(entry.name), "--help lacks \(entry.name)")
        }
        #expect(Reference.exitStatuses.map(\.name) == ["0", "1", "2", "3"])
    }

    /// The spec is the one description: help, the man page and all three completions name each
    /// option of each subcommand, and the choices of those that have fixed values.
    @Test func helpManPageAndCompletionsNameEveryOption() throws {
        let manual = try ManualPage.render(date: "2025-11-27", version: "v", abstract: "a", discussion: "d", subcommands: Meshcap.specs)
        let scripts = Completions.Shell.allCases.map { Completions.script(for: $0, subcommands: Meshcap.specs) }
        for spec in Self.visible {
            // Words, not lines: help wraps.
            let help = Help.of(spec).split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(manual.contains(".It Em \(spec.name)\n"))
            for script in scripts { #expect(script.contains(spec.name), "\(spec.name)") }
            for option in spec.options {
                #expect(help.contains("--\(option.long)"), "\(spec.name) --help lacks --\(option.long)")
                #expect(manual.contains("Fl -\(option.long)") || manual.contains(", -\(option.long)"), "the man page lacks \(spec.name) --\(option.long)")
                for script in scripts { #expect(script.contains(option.long), "a completion lacks \(spec.name) --\(option.long)") }
                if case .words(let words) = option.completion {
                    for script in scripts { #expect(script.contains(words.joined(separator: " ")), "\(spec.name) --\(option.long)'s values") }
                    #expect(help.contains(words.joined(separator: ", ")))
                }
            }
        }
        for hidden in Meshcap.specs where hidden.hidden {
            #expect(!manual.contains(hidden.name) && !Help.overview(abstract: "", discussion: "", subcommands: Meshcap.specs).contains(hidden.name))
        }
    }

    /// Help is at most 80 columns wide except for examples, which are kept as written.
    @Test func helpIsWrappedAndExamplesAreKept() {
        for spec in Self.visible {
            let help = Help.of(spec)
            let examples = spec.discussion.split(separator: "\n").filter { $0.hasPrefix(" ") }.map(String.init)
            for line in help.split(separator: "\n") where line.count > Help.width {
                #expect(examples.contains(String(line)), "\(spec.name): \(line)")
            }
            for example in examples { #expect(help.contains(example + "\n"), "\(spec.name): \(example)") }
        }
    }

    @Test func theManPageDateIsChecked() {
        #expect(throws: ConfigError.self) { try ManualPage.render(date: "2025-13-01", version: "", abstract: "", discussion: "", subcommands: []) }
        #expect(throws: ConfigError.self) { try ManualPage.render(date: "yesterday", version: "", abstract: "", discussion: "", subcommands: []) }
        #expect(throws: ConfigError.self) { try ManualPage.render(date: "2025-02-29", version: "", abstract: "", discussion: "", subcommands: []) }
        #expect(throws: ConfigError.self) { try ManualPage.render(date: "2100-02-29", version: "", abstract: "", discussion: "", subcommands: []) }
        #expect(throws: ConfigError.self) { try ManualPage.render(date: "2025-04-31", version: "", abstract: "", discussion: "", subcommands: []) }
        #expect((try? ManualPage.render(date: "2024-02-29", version: "", abstract: "", discussion: "", subcommands: [])) != nil)
        #expect((try? ManualPage.render(date: "2000-02-29", version: "", abstract: "", discussion: "", subcommands: [])) != nil)
        #expect((try? ManualPage.render(date: "2025-01-02", version: "", abstract: "", discussion: "", subcommands: []))?.hasPrefix(".Dd January 2, 2025\n") == true)
    }

    /// The control plane's names, from every place istioctl's files and Istio's agent keep them;
    /// addresses and ports left out, each name once.
    @Test func controlPlaneNamesComeFromTheFiles() {
        #expect(Doctor.controlPlaneNames(["CA_ADDR": "istiod-rev-1.istio-system.svc:15012"]) == ["istiod-rev-1.istio-system.svc"])
        #expect(Doctor.controlPlaneNames(["PILOT_ADDRESS": "[fd00::1]:15012", "CA_ADDR": "10.0.0.5:15012"]).isEmpty)
        #expect(Doctor.controlPlaneNames(["PROXY_CONFIG": #"{"discoveryAddress":"istiod.mesh.example:15012","proxyMetadata":{}}"#]) == ["istiod.mesh.example"])
        #expect(Doctor.controlPlaneNames(["PROXY_CONFIG": "discoveryAddress: 'cp.example:15012'\nproxyMetadata: {}", "ISTIO_META_DISCOVERY_ADDRESS": "cp.example:15012",
                                          "CA_ADDR": "ca.example:15012"]) == ["ca.example", "cp.example"])
        #expect(Doctor.controlPlaneNames([:]).isEmpty)
    }
}
