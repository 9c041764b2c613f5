import Glibc
import HostOps
import MeshCapture
import Verify

struct VerifyCommand: Subcommand {
    static let spec = CommandSpec(
        name: "verify",
        abstract: "Read the live counters: packets per port, range and owner, and whether capture looks broken (exit 1) (root).",
        discussion: """
            With a config (the same --config files and flags as apply), the live rules are matched to the \
            config's and a difference is a problem; without one, to the config the last apply recorded \
            (/run/meshcap), and where there is none, what each rule is for is recognised from where it sits. \
            Problems: an apply or clean interrupted half-way (its journal is still there), no capture rules, a \
            hook's jump missing, rules in another backend or iptables variant too, another program's rule ahead \
            of meshcap's that took packets, connections through OUTPUT while nothing was ever redirected, drift \
            from the config. Reading changes nothing.

            Examples:
              meshcap verify
              meshcap verify --config cluster.env --json
              meshcap verify --prometheus /var/lib/prometheus/node-exporter/meshcap.prom
              meshcap verify --watch 2
              meshcap verify --reset                  # print, then zero meshcap's counters (only meshcap's)
              meshcap verify --from vm1-iptables-save.txt --config cluster.env
            """,
        options: ConfigOptions.options + HostOptions.options + [
            OptionSpec("json", help: "Print the report as JSON (schema meshcap.verify/v1)."),
            OptionSpec("prometheus", .single(name: "file", completion: .file),
                       help: "Write the report in the node_exporter textfile format to this file (atomically), or - for standard output."),
            OptionSpec("watch", .single(name: "seconds", completion: .none), help: "Read again every this many seconds, with per-second rates, until interrupted."),
            OptionSpec("count", .single(name: "n", completion: .none), help: "With --watch: stop after this many readings."),
            OptionSpec("reset", help: "After reading, zero the counters of meshcap's rules (and Istio's), no one else's. iptables zeroes rules by number: another program inserting rules at that moment may shift them."),
            OptionSpec("probe", help: "First send real connections along each path of the config (needs --config or flags): meshcap listens on the capture ports itself, and makes a peer namespace for inbound. Not while the proxy holds the ports."),
            OptionSpec("from", .single(name: "file", completion: .file),
                       help: "Read a saved dump instead of this host, or - for standard input: the output of iptables-save -c, ip6tables-save -c, iptables -t nat|mangle|raw -nvL [-x], iptables -t nat|mangle|raw -S -v, nft list ruleset or nft -j list ruleset. A line that does not read completely is exit 2 naming it; so is a last line without its line end (a dump cut inside it), unless it is whole by itself (COMMIT, }, JSON)."),
        ],
        operands: ConfigOptions.operands)

    let config: ConfigOptions
    let host: HostOptions
    let json: Bool
    let prometheus: String?
    let watch: Double?
    let count: Int?
    let reset: Bool
    let probe: Bool
    let from: String?

    /// The options, and the combinations of them that cannot work, refused before anything is read.
    init(_ arguments: Arguments) throws {
        config = try ConfigOptions(arguments)
        host = try HostOptions(arguments)
        json = arguments.flag("json")
        prometheus = try arguments.value("prometheus")
        watch = try arguments.value("watch")
        count = try arguments.value("count")
        reset = arguments.flag("reset")
        probe = arguments.flag("probe")
        from = try arguments.value("from")
        func refuse(_ message: String) -> ConfigError { ConfigError(origin: nil, message: message) }
        if let watch, !(watch >= 0.1 && watch <= 86_400) {
            throw refuse("--watch \(watch): allowed: seconds from 0.1 to 86400")
        }
        if let count, count < 1 { throw refuse("--count \(count): allowed: 1 or more") }
        if count != nil && watch == nil { throw refuse("--count needs --watch") }
        if json && prometheus != nil { throw refuse("--json and --prometheus: choose one output") }
        if watch != nil && (json || prometheus != nil) { throw refuse("--watch prints the table for people; without it, --json and --prometheus print one reading") }
        if probe && !config.given { throw refuse("--probe needs the config the rules were applied from (--config FILE or istio-iptables flags): it tries that config's paths") }
        if probe && watch != nil { throw refuse("--probe and --watch: probe once, then watch") }
        if reset && watch != nil && count == nil { throw refuse("--reset with --watch needs --count: the counters are zeroed after the last reading") }
        if from != nil && (watch != nil || reset || probe) { throw refuse("--from reads a saved dump once: --watch, --reset and --probe need a live host") }
        if from == "-" && config.files.contains("-") { throw refuse("--from - and --config -: only one can be standard input") }
    }

    func run() throws {
        if let from {
            if host.netns != nil {
                throw ConfigError(origin: .flag("--netns"), message: "--from reads a saved dump, not a namespace; allowed: --netns or --from, not both")
            }
            // A saved dump: the same report, the config's rules for the backend that wrote it.
            let reading = try Self.readDump(from)
            var desired: DesiredState?
            if config.given {
                let (loaded, accounts) = try config.load()
                desired = CapturePlan(loaded.config).desired(accounts, in: reading.dialect)
            }
            let report = VerifyReport(reading, desired: desired)
            try emit(report)
            if !report.healthy { throw ProblemFound() }
            return
        }
        var probes: (results: [ProbeResult], notes: [String])?
        // The lock is held from the reading to the reset: iptables zeroes rules by number, as read.
        let onHost = try config.loadOnHost(host, locking: reset ? .hold : .whenInterrupted)
        let (loaded, lock, interrupted) = (onHost.loaded, onHost.lock, onHost.interrupted)
        // Without a config, the one meshcap recorded when it applied the rules: so a half or a
        // drift is a problem, not a different-looking capture.
        let plan = onHost.hasConfig ? (CapturePlan(loaded.config), onHost.accounts) : nil
        let run = loaded.run
        if probe, let (plan, accounts) = plan {
            let paths = ProbePath.paths(for: plan.config, resolve: accounts.resolver, peerGateway: ProbePeer.gateway)
            probes = Prober.run(paths, config: plan.config)
        }
        let residue = host.site.residue()
        let firewall = try chooseHost(run, residue: residue)
        let wanted = plan.map { $0.0.desired($0.1, in: firewall.dialect) }

        var previous: (report: VerifyReport, time: Double)?
        var readings = 0
        while true {
            let live = try firewall.observation()
            let reading = CounterReading(source: firewall.name, dialect: firewall.dialect, rules: live.rules, chains: live.chains, ahead: live.ahead,
                                         elsewhere: residue.elsewhere(than: firewall.name), notes: live.notes,
                                         interrupted: interrupted.map { ($0.description, $0.operation == .clean ? "meshcap clean" : "meshcap apply") },
                                         failedApply: onHost.journal.failure)
            var report = VerifyReport(reading, desired: wanted)
            if let probes { report.add(probes: probes.results, notes: probes.notes) }
            let now = MonotonicClock.seconds()
            readings += 1
            if let watch {
                let rates = previous.map { Self.rates(report, since: $0.report, over: now - $0.time) }
                if isatty(1) != 0 { print("\u{1b}[H\u{1b}[2J", terminator: "") }
                print("every \(watch) s, reading \(readings)" + (rates == nil ? " (rates from the next one)" : ""))
                print(HumanTable.render(report, rates: rates), terminator: "")
                fflush(nil)
                previous = (report, now)
                if let count, readings >= count { try finish(report, live: live, firewall: firewall, lock: lock) }
                var pause = timespec(tv_sec: Int(watch), tv_nsec: Int((watch - watch.rounded(.down)) * 1e9)), left = timespec()
                while nanosleep(&pause, &left) != 0 && errno == EINTR { pause = left }
                continue
            }
            try emit(report)
            try finish(report, live: live, firewall: firewall, lock: lock)
        }
    }

    /// A saved dump (a file, or - for standard input) read as a live host is.
    static func readDump(_ path: String) throws -> CounterReading {
        let input = try InputFile.read(path, role: "saved dump", standardInput: true)
        // The last line's end kept or not: a dump that stops inside its last line is told apart.
        let text = input.textWithLF
        return try SavedDump.read(text, as: try SavedDump.format(of: text, name: input.name), name: input.name)
    }

    /// One reading, in the format asked for.
    func emit(_ report: VerifyReport) throws {
        if json {
            print(JSONReport.render(report), terminator: "")
        } else if let prometheus {
            try write(Prometheus.render(report), to: prometheus)
        } else {
            print(HumanTable.render(report), terminator: "")
        }
    }

    /// --reset, then the exit status the report calls for.
    func finish(_ report: VerifyReport, live: Observation, firewall: any FirewallHost, lock: HostLock?) throws -> Never {
        if reset {
            let zeroed = try live.resetCounters()
            withExtendedLifetime(lock) {}
            Report.say(["counters of \(zeroed) rules zeroed (\(firewall.name))"])
        }
        // Out at once: freeing a reading of 10,000 rules one object at a time costs more than
        // printing it, and the kernel frees it all when the process ends.
        Glibc.exit(report.healthy ? ExitStatus.ok.rawValue : ExitStatus.problemFound.rawValue)
    }

    /// The host's rules, as apply and diff choose them (see `HostOptions.choose`).
    func chooseHost(_ run: RunSettings, residue: Residue) throws -> any FirewallHost {
        let (firewall, notes) = try host.choose(run, residue: residue)
        Report.say(notes)
        return firewall
    }

    /// Packets per second per row since the last reading.
    static func rates(_ report: VerifyReport, since last: VerifyReport, over seconds: Double) -> [CounterRow.Key: Double] {
        let before = Dictionary(last.rows.map { ($0.key, $0.packets) }) { first, _ in first }
        var rates: [CounterRow.Key: Double] = [:]
        // A row that counts nothing has no rate either.
        for row in report.rows where seconds > 0 && row.counted {
            // A counter that went down was zeroed or rebuilt meanwhile: count from zero.
            let old = before[row.key] ?? 0
            rates[row.key] = Double(row.packets >= old ? row.packets - old : row.packets) / seconds
        }
        return rates
    }

    /// Standard output, or a file replaced in one rename: node_exporter never reads half of one.
    func write(_ text: String, to path: String) throws {
        guard path != "-" else { return print(text, terminator: "") }
        try TextFile.replace(path, with: text)
    }
}
