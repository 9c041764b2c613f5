import Foundation
import Testing
import TestSupport

/// `Packaging/install.sh` with the debug build, into a fresh DESTDIR under PREFIX /usr/local: every
/// file there with its mode, a man page that names every subcommand and renders without a warning,
/// completion scripts each shell parses, units `systemd-analyze verify` accepts, and the
/// Prometheus rules in contrib passing `promtool`. Tools that are missing (groff, zsh, fish,
/// systemd-analyze, promtool) skip their test with a message; under `CI=true` they fail instead.
/// CI installs them: `apt-get install --no-install-recommends groff-base man-db systemd zsh fish prometheus`.
@Suite struct InstallTests {
    static let installScript = InstallScript.path
    static let prefix = InstallScript.prefix

    /// Every file install.sh installs under DESTDIR, and its mode.
    static let files: [(path: String, mode: Int)] = [
        ("usr/local/bin/meshcap", 0o755),
        ("usr/local/share/man/man1/meshcap.1", 0o644),
        ("usr/local/share/bash-completion/completions/meshcap", 0o644),
        ("usr/local/share/zsh/site-functions/_meshcap", 0o644),
        ("usr/local/share/fish/vendor_completions.d/meshcap.fish", 0o644),
        ("usr/local/lib/meshcap/meshcap-with-config", 0o755),
        ("usr/local/lib/meshcap/meshcap-unit-stop", 0o755),
        ("usr/local/lib/systemd/system/meshcap.service", 0o644),
        ("usr/local/lib/systemd/system/meshcap-verify.service", 0o644),
        ("usr/local/lib/systemd/system/meshcap-verify.timer", 0o644),
        ("etc/meshcap/README", 0o644),
    ]
    static let units = ["meshcap.service", "meshcap-verify.service", "meshcap-verify.timer"]

    /// A program on PATH or in the sbin directories, or nil.
    static func tool(_ name: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for directory in path + ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        return nil
    }

    /// Runs install.sh into `destdir`, the man page dated from `epoch`.
    static func install(into destdir: URL, epoch: String = "1764201600", _ extra: [String] = []) throws -> ProcessResult {
        try InstallScript.run(into: destdir, epoch: epoch, extra)
    }

    /// A fresh DESTDIR with meshcap installed in it; the caller removes it.
    static func installed(_ purpose: String) throws -> URL {
        let destdir = try temporaryDirectory(purpose)
        let result = try install(into: destdir)
        #expect(result.status == 0, "install.sh failed: \(result.stderr)")
        return destdir
    }

    static func text(_ destdir: URL, _ path: String) throws -> String {
        try String(contentsOf: destdir.appendingPathComponent(path), encoding: .utf8)
    }

    static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return ((attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1) & 0o7777
    }

    @Test
    func everyFileIsInstalledWithItsModeAndPrinted() throws {
        let destdir = try temporaryDirectory("install")
        defer { try? FileManager.default.removeItem(at: destdir) }
        let result = try Self.install(into: destdir)
        #expect(result.status == 0, "\(result.stderr)")
        let printed = result.stdout.split(separator: "\n").map(String.init)
        #expect(Set(printed) == Set(Self.files.map { destdir.appendingPathComponent($0.path).path }), "install.sh printed \(printed)")
        for file in Self.files {
            let path = destdir.appendingPathComponent(file.path).path
            #expect(FileManager.default.fileExists(atPath: path), "\(file.path) is missing")
            let mode = try Self.mode(path)
            #expect(mode == file.mode, "\(file.path): mode \(String(mode, radix: 8)), not \(String(file.mode, radix: 8))")
        }
        // Nothing else: no file elsewhere, no placeholder left unfilled.
        let all = FileManager.default.enumerator(atPath: destdir.path)?.compactMap { $0 as? String } ?? []
        let regular = all.filter { name in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: destdir.appendingPathComponent(name).path, isDirectory: &isDirectory) && !isDirectory.boolValue
        }
        #expect(Set(regular) == Set(Self.files.map(\.path)))
        for unit in Self.units {
            let text = try Self.text(destdir, "usr/local/lib/systemd/system/\(unit)")
            #expect(!text.contains("@BINDIR@") && !text.contains("@LIBDIR@") && !text.contains("@SYSCONFDIR@"), "\(unit)")
        }
        let service = try Self.text(destdir, "usr/local/lib/systemd/system/meshcap.service")
        #expect(service.contains("ExecStart=/usr/local/lib/meshcap/meshcap-with-config apply\n"))
        #expect(service.contains("ExecStop=/usr/local/lib/meshcap/meshcap-unit-stop %n\n"))
        #expect(try Self.text(destdir, "usr/local/lib/meshcap/meshcap-unit-stop").contains("\nexec /usr/local/bin/meshcap clean\n"))
        #expect(try Self.text(destdir, "usr/local/lib/meshcap/meshcap-with-config").contains("\nmeshcap=/usr/local/bin/meshcap\n"))
    }

    /// Same inputs, same bytes, wherever DESTDIR is; a second install keeps /etc/meshcap's files.
    @Test
    func theOutputIsReproducibleAndEtcIsLeftAlone() throws {
        let first = try Self.installed("install-a"), second = try Self.installed("install-b")
        defer {
            try? FileManager.default.removeItem(at: first)
            try? FileManager.default.removeItem(at: second)
        }
        for file in Self.files {
            let a = try Data(contentsOf: first.appendingPathComponent(file.path))
            let b = try Data(contentsOf: second.appendingPathComponent(file.path))
            #expect(a == b, "\(file.path) differs between two installs of the same binary")
        }
        #expect(try Self.text(first, "usr/local/share/man/man1/meshcap.1").contains(".Dd November 27, 2025\n"), "the date is not SOURCE_DATE_EPOCH's")

        let readme = first.appendingPathComponent("etc/meshcap/README")
        try "the admin's own notes\n".write(to: readme, atomically: true, encoding: .utf8)
        let again = try Self.install(into: first)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("\(readme.path) (exists, left as it is)"))
        #expect(try String(contentsOf: readme, encoding: .utf8) == "the admin's own notes\n")
    }

    @Test func aMissingOptionIsNamed() throws {
        let result = try run("/bin/sh", [Self.installScript, "--prefix", "/usr"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("missing: --binary --destdir"), "\(result.stderr)")
        let relative = try run("/bin/sh", [Self.installScript, "--binary", meshcap, "--prefix", "usr", "--destdir", "/nonexistent"])
        #expect(relative.status == 2)
        #expect(relative.stderr.contains("--prefix usr: must be an absolute path"), "\(relative.stderr)")
    }

    /// A binary that cannot write the man page fails the install, and says so.
    @Test func aBinaryThatCannotWriteTheManPageFailsTheInstall() throws {
        let destdir = try temporaryDirectory("install-fail")
        defer { try? FileManager.default.removeItem(at: destdir) }
        let result = try run("/bin/sh", [Self.installScript, "--binary", "/bin/false", "--prefix", Self.prefix, "--destdir", destdir.path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("meshcap --generate-manual failed"), "\(result.stderr)")
    }

    /// Every subcommand has its entry, and groff (the renderer man uses) has nothing to warn about.
    @Test(.enabled(if: InstallTests.tool("groff") != nil || Prerequisites.isCI, "needs groff (apt-get install groff-base)"))
    func theManPageNamesEverySubcommandAndRendersWithoutWarnings() throws {
        let groff = try #require(Self.tool("groff"), "CI=true but groff is not installed (apt-get install groff-base)")
        let destdir = try Self.installed("install-man")
        defer { try? FileManager.default.removeItem(at: destdir) }
        let page = destdir.appendingPathComponent("usr/local/share/man/man1/meshcap.1").path
        let source = try String(contentsOfFile: page, encoding: .utf8)
        for subcommand in ["compile", "apply", "clean", "diff", "verify", "doctor", "cidr", "keys"] {
            #expect(source.contains(".It Em \(subcommand)\n"), "the man page has no entry for \(subcommand)")
        }
        var environment = ProcessInfo.processInfo.environment
        environment["LC_ALL"] = "C.UTF-8"
        let rendered = try run(groff, ["-mandoc", "-Tutf8", "-ww", "-z", page], environment: environment)
        #expect(rendered.status == 0)
        #expect(rendered.stderr.isEmpty, "groff warns about the man page:\n\(rendered.stderr)")
        let text = try run(groff, ["-mandoc", "-Tutf8", page], environment: environment)
        #expect(text.stdout.contains("MESHCAP(1)"))
    }

    @Test
    func theBashCompletionParsesAndRegisters() throws {
        let destdir = try Self.installed("install-bash")
        defer { try? FileManager.default.removeItem(at: destdir) }
        let script = destdir.appendingPathComponent("usr/local/share/bash-completion/completions/meshcap").path
        let syntax = try run("/bin/bash", ["-n", script])
        #expect(syntax.status == 0, "\(syntax.stderr)")
        let registered = try run("/bin/bash", ["-c", "source \"$1\" && complete -p meshcap", "bash", script])
        #expect(registered.status == 0 && registered.stdout.contains("meshcap"), "\(registered.stderr)")
        // What a user pressing Tab gets: a subcommand, an option, an option's values.
        let completed = try run("/bin/bash", ["-c", """
            source "$1"
            complete() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _meshcap; echo "${COMPREPLY[*]}"; }
            complete meshcap ver; complete meshcap apply --back; complete meshcap apply --backend ''
            complete meshcap apply --backend = i; complete meshcap help dif; complete meshcap verify --json -
            """, "bash", script])
        // bash splits "--backend=i" into three words; the value is completed all the same.
        #expect(completed.stdout.split(separator: "\n").map(String.init)[0..<5] == ["verify", "--backend", "nft iptables", "iptables", "diff"],
                "\(completed.stdout)\(completed.stderr)")
        #expect(completed.stdout.contains("--prometheus") && completed.stdout.contains("-v"), "\(completed.stdout)")
    }

    @Test(.enabled(if: InstallTests.tool("zsh") != nil || Prerequisites.isCI, "needs zsh (apt-get install zsh)"))
    func theZshCompletionParses() throws {
        let zsh = try #require(Self.tool("zsh"), "CI=true but zsh is not installed (apt-get install zsh)")
        let destdir = try Self.installed("install-zsh")
        defer { try? FileManager.default.removeItem(at: destdir) }
        let result = try run(zsh, ["-n", destdir.appendingPathComponent("usr/local/share/zsh/site-functions/_meshcap").path])
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test(.enabled(if: InstallTests.tool("fish") != nil || Prerequisites.isCI, "needs fish (apt-get install fish)"))
    func theFishCompletionParsesAndCompletes() throws {
        let fish = try #require(Self.tool("fish"), "CI=true but fish is not installed (apt-get install fish)")
        let destdir = try Self.installed("install-fish")
        defer { try? FileManager.default.removeItem(at: destdir) }
        let script = destdir.appendingPathComponent("usr/local/share/fish/vendor_completions.d/meshcap.fish").path
        let syntax = try run(fish, ["--no-config", "-n", script])
        #expect(syntax.status == 0, "\(syntax.stderr)")
        let completed = try run(fish, ["--no-config", "-c", "source $argv[1]; complete -C'meshcap ver'", script])
        #expect(completed.stdout.hasPrefix("verify"), "\(completed.stdout)\(completed.stderr)")
    }

    /// `systemd-analyze verify` checks that ExecStart's programs exist, so it reads copies of the
    /// units whose paths point into DESTDIR, and finds the man page (Documentation=man:) through
    /// MANPATH. It exits 0 on a setting it ignores (a misspelt key or value), so anything it prints
    /// fails the test too.
    static func analyze(_ destdir: URL, edit: (String, String) -> String = { $1 }) throws -> ProcessResult {
        let analyze = try #require(tool("systemd-analyze"), "CI=true but systemd-analyze is not installed (apt-get install systemd)")
        let copies = destdir.appendingPathComponent("analyze")
        try FileManager.default.createDirectory(at: copies, withIntermediateDirectories: true)
        for unit in units {
            let text = try Self.text(destdir, "usr/local/lib/systemd/system/\(unit)")
                .replacingOccurrences(of: "/usr/local/", with: destdir.path + "/usr/local/")
            try edit(unit, text).write(to: copies.appendingPathComponent(unit), atomically: true, encoding: .utf8)
        }
        var environment = ProcessInfo.processInfo.environment
        environment["MANPATH"] = destdir.appendingPathComponent("usr/local/share/man").path
        return try run(analyze, ["verify"] + units.map { copies.appendingPathComponent($0).path }, environment: environment)
    }

    @Test(.enabled(if: InstallTests.tool("systemd-analyze") != nil || Prerequisites.isCI, "needs systemd-analyze (apt-get install systemd)"))
    func systemdAcceptsTheUnits() throws {
        let destdir = try Self.installed("install-units")
        defer { try? FileManager.default.removeItem(at: destdir) }
        let result = try Self.analyze(destdir)
        #expect(result.status == 0 && result.stderr.isEmpty && result.stdout.isEmpty,
                "systemd-analyze verify (exit \(result.status)):\n\(result.stdout)\(result.stderr)")
    }

    /// The check above can fail: a misspelt value (exit 0, but a warning) and a missing program
    /// (exit 1) are both caught.
    @Test(.enabled(if: InstallTests.tool("systemd-analyze") != nil || Prerequisites.isCI, "needs systemd-analyze (apt-get install systemd)"))
    func systemdAnalyzeCatchesABrokenUnit() throws {
        let destdir = try Self.installed("install-broken")
        defer { try? FileManager.default.removeItem(at: destdir) }
        let misspelt = try Self.analyze(destdir) { unit, text in
            unit == "meshcap.service" ? text.replacingOccurrences(of: "Type=oneshot", with: "Type=oneshto") : text
        }
        #expect(misspelt.stderr.contains("oneshto"), "\(misspelt.stderr)")
        let missing = try Self.analyze(destdir) { unit, text in
            unit == "meshcap-verify.service" ? text.replacingOccurrences(of: "meshcap-with-config verify", with: "meshcap-with-confi verify") : text
        }
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("meshcap-with-confi is not executable"), "\(missing.stderr)")
    }

    /// The units' helper passes sidecar.env, cluster.env, then /etc/meshcap/*.env in byte order
    /// (10-a before 9-b), skipping what is not a file; the last one wins in meshcap.
    @Test
    func theHelperPassesTheConfigsInIstiosOrderOverridesLast() throws {
        let destdir = try Self.installed("install-helper")
        defer { try? FileManager.default.removeItem(at: destdir) }
        let istio = destdir.appendingPathComponent("var/lib/istio/envoy"), etc = destdir.appendingPathComponent("etc/meshcap")
        try FileManager.default.createDirectory(at: istio, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: etc.appendingPathComponent("directory.env"), withIntermediateDirectories: true)
        try "INBOUND_PORTS_EXCLUDE=22\n".write(to: istio.appendingPathComponent("sidecar.env"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(at: packageRoot.appendingPathComponent("Rules/sidecar-default.env"), to: istio.appendingPathComponent("cluster.env"))
        try "INBOUND_PORTS_EXCLUDE=2222\n".write(to: etc.appendingPathComponent("9-b.env"), atomically: true, encoding: .utf8)
        try "INBOUND_PORTS_EXCLUDE=1111\n".write(to: etc.appendingPathComponent("10-a.env"), atomically: true, encoding: .utf8)
        // The installed helper runs /usr/local/bin/meshcap; this copy runs DESTDIR's.
        let helper = destdir.appendingPathComponent("helper").path
        try Self.text(destdir, "usr/local/lib/meshcap/meshcap-with-config")
            .replacingOccurrences(of: "\nmeshcap=/usr/local/bin/meshcap\n", with: "\nmeshcap=\(destdir.path)/usr/local/bin/meshcap\n")
            .write(toFile: helper, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["ISTIO_SIDECAR_CONFIG"] = istio.appendingPathComponent("sidecar.env").path
        environment["ISTIO_CLUSTER_CONFIG"] = istio.appendingPathComponent("cluster.env").path
        environment["MESHCAP_CONFIG_DIR"] = etc.path

        let printed = try run("/bin/sh", [helper, "--print", "verify", "--prometheus", "/tmp/a b.prom"], environment: environment)
        #expect(printed.status == 0, "\(printed.stderr)")
        let expected: [String] = [
            "\(destdir.path)/usr/local/bin/meshcap", "verify",
            "--config", istio.appendingPathComponent("sidecar.env").path,
            "--config", istio.appendingPathComponent("cluster.env").path,
            "--config", etc.appendingPathComponent("10-a.env").path,
            "--config", etc.appendingPathComponent("9-b.env").path,
            "--prometheus", "/tmp/a b.prom",
        ]
        let printedLines: [String] = printed.stdout.split(separator: "\n").map(String.init)
        #expect(printedLines == expected)
        #expect(printed.stderr.contains("skipped \(etc.path)/directory.env: not a readable file"), "\(printed.stderr)")

        let compiled = try run("/bin/sh", [helper, "compile", "--passwd-file", "/dev/null", "--group-file", "/dev/null", "--resolv-conf", "/dev/null"], environment: environment)
        #expect(compiled.status == 0, "\(compiled.stderr)")
        #expect(compiled.stdout.contains("--dport 2222 -j RETURN"), "the last override did not win:\n\(compiled.stdout)")
        #expect(!compiled.stdout.contains("--dport 1111 ") && !compiled.stdout.contains("--dport 22 "))

        environment["MESHCAP_CONFIG_DIR"] = destdir.appendingPathComponent("nonexistent").path
        environment["ISTIO_SIDECAR_CONFIG"] = "/nonexistent/sidecar.env"
        environment["ISTIO_CLUSTER_CONFIG"] = "/nonexistent/cluster.env"
        let none = try run("/bin/sh", [helper, "apply"], environment: environment)
        #expect(none.status == 2)
        #expect(none.stderr.contains("no config:"), "\(none.stderr)")

        // The package's sidecar.env alone (every line commented out) is not a config to run:
        // cluster.env is named as missing, and nothing runs.
        try "# ISTIO_SERVICE_CIDR=*\n".write(to: istio.appendingPathComponent("sidecar.env"), atomically: true, encoding: .utf8)
        environment["ISTIO_SIDECAR_CONFIG"] = istio.appendingPathComponent("sidecar.env").path
        let sidecarOnly = try run("/bin/sh", [helper, "apply"], environment: environment)
        #expect(sidecarOnly.status == 2, "\(sidecarOnly.stderr)")
        #expect(sidecarOnly.stderr.contains("/nonexistent/cluster.env is not there (or not readable): it holds the VM's capture"), "\(sidecarOnly.stderr)")
    }

    static let alerts = packageRoot.appendingPathComponent("contrib/prometheus")

    /// The alerting rules load, their unit tests (each alert fired, and near misses quiet) pass,
    /// and the sample textfile is in the format node_exporter reads.
    @Test(.enabled(if: InstallTests.tool("promtool") != nil || Prerequisites.isCI, "needs promtool (apt-get install --no-install-recommends prometheus)"))
    func promtoolAcceptsAndTestsTheAlerts() throws {
        let promtool = try #require(Self.tool("promtool"), "CI=true but promtool is not installed (apt-get install --no-install-recommends prometheus)")
        let check = try run(promtool, ["check", "rules", Self.alerts.appendingPathComponent("meshcap-alerts.yml").path])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        // 4 recording rules, then 6 alerts.
        #expect(check.stdout.contains("SUCCESS: 10 rules found"), "\(check.stdout)")
        let test = try run(promtool, ["test", "rules", Self.alerts.appendingPathComponent("meshcap-alerts.test.yml").path])
        #expect(test.status == 0, "\(test.stdout)\(test.stderr)")
        let sample = try String(contentsOf: Self.alerts.appendingPathComponent("meshcap.prom.example"), encoding: .utf8)
        let metrics = try run(promtool, ["check", "metrics"], input: sample)
        #expect(metrics.status == 0, "\(metrics.stdout)\(metrics.stderr)")
    }
}
