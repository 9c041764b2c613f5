/// The validated result of every config file and flag, and what a user should hear about it.
public struct LoadedConfig: Sendable {
    public let config: InterceptConfig
    public let run: RunSettings
    /// Always said: input that is probably a mistake (an unknown key, a key set twice), and host
    /// defaults that may not fit (a proxy UID with no account, DNS capture with nothing to capture).
    public let warnings: [String]
    /// Said with --verbose: keys accepted and ignored, inert settings, line endings.
    public let notes: [String]
    /// What was filled in as Istio fills it in ("PROXY_UID=998 (user istio-proxy in /etc/passwd)"),
    /// so a rules file compiled in CI says which machine's files it assumed.
    public let fromHost: [String]
    /// Settings taken from the environment ("DRY_RUN=true"): always said, as nothing on the
    /// command line shows them.
    public let fromEnvironment: [String]
    /// Every key's value as written, the last one winning (files, then the environment, then
    /// flags): for what reads keys that shape no rule (doctor's CA_ADDR, ISTIO_CUSTOM_IP_TABLES).
    public let values: [String: String]
}

/// Turns `--config` files, the environment and istio-iptables flags into one `InterceptConfig`.
/// Files are read in order, later ones winning; the environment wins over files (a one-off
/// `DRY_RUN=true meshcap apply`), flags over both. Every value is validated (not only the one
/// that wins), and every error is collected before failing.
public enum ConfigLoader {
    /// - Parameters:
    ///   - files: paths, or `-` for standard input (once).
    ///   - environment: a variable's value by name (`getenv`). istio-iptables reads every setting
    ///     it has a flag for from a variable of the key's name as well; meshcap does the same for
    ///     the keys that have an effect. Empty variables count as unset, as in a shell.
    ///   - resolvConf: read only when DNS capture needs servers and none are given.
    ///   - strict: unknown keys and keys set twice are errors, not warnings.
    ///   - droppedSettings: whether to look for settings that write no rule (`DroppedSettings`);
    ///     a config meshcap recorded was looked at when it was applied (10,000 prefixes sorted twice).
    public static func load(files: [String], environment: (String) -> String? = { _ in nil }, flags: [String], accounts: AccountDatabase,
                            resolvConf: String = ResolvConf.defaultPath, strict: Bool = false,
                            droppedSettings: Bool = true) throws(ConfigErrors) -> LoadedConfig {
        var errors: [ConfigError] = []
        var warnings: [String] = [], notes: [String] = []
        /// A problem that --strict makes an error.
        func doubtful(_ message: String, _ origin: Origin) {
            if strict { errors.append(ConfigError(origin: origin, message: message + " (--strict)")) } else { warnings.append("\(origin): \(message)") }
        }

        var settings: [Setting] = []
        if files.filter({ $0 == "-" }).count > 1 {
            errors.append(ConfigError(origin: nil, message: "--config - is given more than once; standard input can be read once"))
        }
        for (index, path) in files.enumerated() where path != "-" || files.firstIndex(of: "-") == index {
            do {
                let text = try InputFile.read(path, role: "config file", standardInput: true)
                let endings = text.lineEndings.subtracting([.lf])
                if !endings.isEmpty {
                    notes.append("\(text.name): \(endings.sorted().map(\.rawValue).joined(separator: " and ")) line ends read as line ends")
                }
                if text.hadByteOrderMark { notes.append("\(text.name): the byte-order mark at its start was skipped") }
                switch EnvFile.parse(text) {
                case .success(let parsed): settings += parsed
                case .failure(let failure): errors += failure.errors
                }
            } catch {
                errors += error.errors
            }
        }
        let fromEnvironment = Self.environmentSettings(environment)
        settings += fromEnvironment
        switch parseFlags(flags) {
        case .success(let parsed): settings += parsed
        case .failure(let failure): errors += failure.errors
        }

        // Each key's settings, in the order written; the last one wins.
        var byKey: [String: [Setting]] = [:]
        var order: [String] = []
        var unknownKeys = 0
        var firstUnnamed: Setting?
        for setting in settings {
            if let reason = ConfigKey.misleading[setting.key] {
                errors.append(ConfigError(origin: setting.origin, message: "\(setting.key) \(reason)"))
                continue
            }
            guard let key = key(named: setting.key) else {
                if setting.key.hasPrefix(ConfigKey.ignoredPrefix) {
                    notes.append("\(setting.origin): \(setting.key) is proxy metadata and shapes no rule")
                } else {
                    unknownKeys += 1
                    if unknownKeys <= unknownKeysNamed {
                        doubtful("unknown key \(setting.key)\(suggestion(for: setting.key, among: allNames)); it shapes no rule (`meshcap keys` lists the keys)", setting.origin)
                    } else if firstUnnamed == nil {
                        firstUnnamed = setting
                    }
                }
                continue
            }
            if byKey[key.name] == nil { order.append(key.name) }
            byKey[key.name, default: []].append(setting)
        }
        if let first = firstUnnamed {
            let after = unknownKeys - unknownKeysNamed - 1
            doubtful("unknown key \(first.key)\(suggestion(for: first.key, among: allNames))"
                     + (after == 0 ? "; it shapes" : " and \(after) more unknown keys after it; they shape") + " no rule (`meshcap keys` lists the keys)", first.origin)
        }
        for name in order {
            for (message, origin) in repetitions(of: byKey[name] ?? [], key: name) { doubtful(message, origin) }
        }

        var config = InterceptConfig(), run = RunSettings()
        for name in order {
            guard let key = key(named: name), let list = byKey[name] else { continue }
            for (position, setting) in list.enumerated() {
                let wins = position == list.count - 1
                if let unreadable = setting.unreadable {
                    if case .none = key.effect {
                        if wins { notes.append("\(setting.origin): \(setting.key) is ignored, and its value is not plain text: \(unreadable.problem)") }
                    } else {
                        errors.append(ConfigError(origin: setting.origin, message: "\(setting.key): \(unreadable.problem); allowed: \(unreadable.allowed)"))
                    }
                    continue
                }
                // Every value is checked; only the winner's lands in the result.
                do {
                    switch key.effect {
                    case .rules(let apply):
                        var target = wins ? config : InterceptConfig()
                        try apply(&target, setting.value, accounts)
                        if wins { config = target }
                    case .run(let apply):
                        var target = wins ? run : RunSettings()
                        try apply(&target, setting)
                        if wins { run = target }
                    case .none:
                        if wins { notes.append("\(setting.origin): \(setting.key) is accepted and ignored: \(key.meaning)") }
                    }
                } catch {
                    errors.append(.value(setting, error))
                }
            }
        }
        guard errors.isEmpty else { throw ConfigErrors(errors: inWrittenOrder(errors, files: files), warnings: warnings) }

        let user = HostDefaults.proxyUser(&config, uid: byKey["PROXY_UID"]?.last, envoyUser: byKey["ENVOY_USER"]?.last, accounts: accounts)
        // Before DNS: IPv6 decides whether IPv6 resolvers are captured.
        let ipv6 = HostDefaults.ipv6(&config, enable: byKey["ENABLE_INBOUND_IPV6"]?.last, serviceAddress: byKey["ISTIO_SVC_IP"]?.last)
        let given = byKey["DNS_SERVERS_V4"] != nil || byKey["DNS_SERVERS_V6"] != nil
        let dns = try HostDefaults.dnsServers(&config, given: given, resolvConf: resolvConf)
        warnings += user.warnings + ipv6.warnings + dns.warnings + (droppedSettings ? DroppedSettings.warnings(config) { byKey[$0]?.last } : [])
        if let gap = config.dnsCaptureGap, let asked = byKey["REDIRECT_DNS"]?.last {
            warnings.append("\(asked.origin): \(asked.key)=\(asked.value) writes no DNS rule: \(gap)")
        }
        return LoadedConfig(config: config, run: run, warnings: warnings, notes: notes,
                            fromHost: user.facts + ipv6.facts + dns.facts, fromEnvironment: fromEnvironment.map { "\($0.key)=\($0.value)" },
                            values: settings.filter { $0.unreadable == nil }.reduce(into: [:]) { $0[$1.key] = $1.value })
    }

    static func environmentSettings(_ environment: (String) -> String?) -> [Setting] {
        ConfigKey.all.filter { if case .none = $0.effect { false } else { true } }
            .flatMap { [$0.name] + $0.aliases }
            .sorted()
            .compactMap { name in environment(name).flatMap { $0.isEmpty ? nil : Setting(key: name, value: $0, origin: .environment(name)) } }
    }

    /// A key set twice where no layering explains it: the same name twice in one file, the same
    /// flag twice, or two names of one key (ISTIO_SERVICE_CIDR and OUTBOUND_IPRANGES_INCLUDE) in
    /// the files. The same name in two files is how sidecar.env and cluster.env layer, and a
    /// flag over a file is how a one-off override works: both are documented, not reported.
    static func repetitions(of settings: [Setting], key: String) -> [(String, Origin)] {
        guard let winner = settings.last, settings.count > 1 else { return [] }
        var reports: [(String, Origin)] = []
        var places: [String: [Setting]] = [:]
        for setting in settings {
            let place: String
            switch setting.origin {
            case .file(let path, _): place = "\(path)\u{0}\(setting.key)"
            case .flag: place = "flags\u{0}\(setting.key)"
            case .environment: place = "environment\u{0}\(setting.key)"
            }
            places[place, default: []].append(setting)
        }
        for (_, repeated) in places.sorted(by: { $0.key < $1.key }) where repeated.count > 1 {
            guard let last = repeated.last else { continue }
            switch last.origin {
            case .file(let path, _):
                let lines = repeated.compactMap { if case .file(_, let line) = $0.origin { String(line) } else { nil } }
                reports.append(("\(last.key) is set \(repeated.count) times in \(path) (lines \(lines.joined(separator: ", "))); the last, \(last.cited), wins", last.origin))
            case .environment:
                continue  // a variable has one value
            case .flag:
                reports.append(("\(last.key) is given \(repeated.count) times as a flag; the last, \(last.value), wins", last.origin))
            }
        }
        let fromFiles = settings.filter { if case .file = $0.origin { true } else { false } }
        let names = fromFiles.map(\.key).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        if names.count > 1, let last = fromFiles.last {
            let cited = names.map { name in fromFiles.last { $0.key == name }.map { "\(name) (\($0.origin))" } ?? name }
            let wins = winner.origin == last.origin ? last.cited : "\(winner.cited), over them both"
            reports.append(("\(cited.joined(separator: " and ")) set the same thing, \(key); the later wins: \(wins)", last.origin))
        }
        return reports
    }

    /// Errors are found in passes (syntax, keys, values); report them as the user reads the
    /// input: file by file, line by line, then the flags.
    static func inWrittenOrder(_ errors: [ConfigError], files: [String]) -> [ConfigError] {
        func rank(_ origin: Origin?) -> (Int, Int) {
            switch origin {
            case .file(let path, let line): (files.firstIndex(of: path == "stdin" ? "-" : path) ?? files.count, line)
            case .environment: (files.count, 0)
            case .flag: (files.count + 1, 0)
            case nil: (-1, 0)
            }
        }
        return errors.enumerated().sorted { a, b in
            (rank(a.element.origin).0, rank(a.element.origin).1, a.offset) < (rank(b.element.origin).0, rank(b.element.origin).1, b.offset)
        }.map(\.element)
    }

    static let byName: [String: ConfigKey] = {
        var table: [String: ConfigKey] = [:]
        for key in ConfigKey.all {
            for name in [key.name] + key.aliases { table[name] = key }
        }
        return table
    }()

    static let byFlag: [String: ConfigKey] = {
        var table: [String: ConfigKey] = [:]
        for key in ConfigKey.all {
            for flag in key.flags { table[flag] = key }
        }
        return table
    }()

    /// Unknown keys named one by one, each with the nearest known key: the ones a person reads,
    /// when a typo is the likely cause. Past them a file is not a config at all (100,000 keys
    /// once took 30 s of nearest-key searches), and the rest are counted in one line.
    static let unknownKeysNamed = 20

    static let allNames = ConfigKey.all.flatMap { [$0.name] + $0.aliases } + Array(ConfigKey.misleading.keys)

    static func key(named name: String) -> ConfigKey? { byName[name] }

    /// istio-iptables flags: `-b 80,443`, `-b=80`, `--istio-inbound-ports 80`,
    /// `--istio-inbound-ports=80`; switches (`--redirect-dns`) take no value unless written
    /// `--redirect-dns=false`. `-b=` gives the key an empty value, as `ISTIO_INBOUND_PORTS=` in
    /// a file does (it used to take the next argument as its value, and `--log=` meant `--log`).
    static func parseFlags(_ arguments: [String]) -> Result<[Setting], ConfigErrors> {
        var settings: [Setting] = []
        var errors: [ConfigError] = []
        var index = 0
        // A switch given without a value just before: a word after it was likely meant as its value.
        var lastSwitch: String?
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            let (flag, inline) = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init).pair
            defer { lastSwitch = inline == nil && byFlag[flag]?.isSwitch == true ? flag : nil }
            guard flag.hasPrefix("-"), let key = byFlag[flag] else {
                let known = Array(byFlag.keys)
                let unexpected = lastSwitch.map { "unexpected argument \"\(argument)\"; \($0) is a switch: a value goes after =, as in \($0)=\(argument)" }
                    ?? "unexpected argument \"\(argument)\"; config files are given with --config FILE"
                errors.append(ConfigError(origin: nil,
                    message: flag.hasPrefix("-") ? "unknown flag \(flag)\(hint(for: flag, among: known))" : unexpected))
                // The next word is most likely the unknown flag's value: one error, not two.
                if flag.hasPrefix("-"), inline == nil, index < arguments.count, !arguments[index].hasPrefix("-") { index += 1 }
                continue
            }
            let value: String
            if let inline {
                value = inline
            } else if key.isSwitch {
                value = "true"
            } else if index < arguments.count {
                value = arguments[index]
                index += 1
            } else {
                errors.append(ConfigError(origin: .flag(flag), message: "\(flag) needs a value (\(key.name): \(key.meaning))"))
                continue
            }
            settings.append(Setting(key: key.name, value: value, origin: .flag(flag)))
        }
        return errors.isEmpty ? .success(settings) : .failure(ConfigErrors(errors: errors))
    }

    /// " (did you mean X?)" for the closest known name, if one is close enough to be a typo.
    /// The nearest flag, or where to find them all.
    static func hint(for flag: String, among flags: [String]) -> String {
        let nearest = suggestion(for: flag, among: flags)
        return nearest.isEmpty ? " (`meshcap keys` lists every key with its flags)" : nearest
    }

    /// " (did you mean X?)" for the candidate nearest `name` (case aside), when one is near
    /// enough to be a typo of it; "" otherwise. For keys, flags, subcommands and options alike.
    public static func suggestion(for name: String, among candidates: [String]) -> String {
        let scored = candidates.map { ($0, editDistance(name.uppercased(), $0.uppercased())) }
        guard let best = scored.min(by: { ($0.1, $0.0) < ($1.1, $1.0) }),
              best.1 <= max(2, name.count / 3) else { return "" }
        return " (did you mean \(best.0)?)"
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

extension Array where Element == String {
    /// The first element and, if there is one, the second.
    fileprivate var pair: (String, String?) { (self.first ?? "", self.count > 1 ? self[1] : nil) }
}
