/// The validated result of every config file and flag, with what was accepted but ignored.
public struct LoadedConfig: Sendable {
    public let config: InterceptConfig
    /// Keys that were set but shape no rule, and settings that are inert in this combination.
    public let notes: [String]
}

/// Turns `--config` files and istio-iptables flags into one `InterceptConfig`. Files are read in
/// order, later ones winning; flags win over files. Every error is collected before failing.
public enum ConfigLoader {
    public static func load(files: [String], flags: [String], accounts: AccountDatabase) throws(ConfigErrors) -> LoadedConfig {
        var settings: [Setting] = []
        var errors: [ConfigError] = []
        for path in files {
            guard let text = TextFile.read(path) else {
                errors.append(ConfigError(origin: nil, message: "cannot read the config file \(path)"))
                continue
            }
            switch EnvFile.parse(text, path: path) {
            case .success(let parsed): settings += parsed
            case .failure(let failure): errors += failure.errors
            }
        }
        switch parseFlags(flags) {
        case .success(let parsed): settings += parsed
        case .failure(let failure): errors += failure.errors
        }
        var config = InterceptConfig()
        var notes: [String] = []
        // The last setting of each key wins; its aliases are the same key.
        var winners: [String: Setting] = [:]
        var order: [String] = []
        for setting in settings {
            if let reason = ConfigKey.misleading[setting.key] {
                errors.append(ConfigError(origin: setting.origin, message: "\(setting.key) \(reason)"))
                continue
            }
            if setting.key.hasPrefix(ConfigKey.ignoredPrefix) && key(named: setting.key) == nil {
                notes.append("\(setting.origin): \(setting.key) is proxy metadata and shapes no rule")
                continue
            }
            guard let key = key(named: setting.key) else {
                errors.append(ConfigError(origin: setting.origin,
                    message: "unknown key \(setting.key)\(suggestion(for: setting.key, among: allNames)); `meshcap keys` lists them all"))
                continue
            }
            if winners[key.name] == nil { order.append(key.name) }
            winners[key.name] = setting
        }
        for name in order {
            guard let setting = winners[name], let key = key(named: name) else { continue }
            guard let apply = key.apply else {
                notes.append("\(setting.origin): \(setting.key) is accepted and ignored: \(key.meaning)")
                continue
            }
            do {
                try apply(&config, setting.value, accounts)
            } catch {
                errors.append(.value(setting, error))
            }
        }
        guard errors.isEmpty else { throw ConfigErrors(errors: inWrittenOrder(errors, files: files)) }
        return LoadedConfig(config: config, notes: notes + config.inertSettings)
    }

    /// Errors are found in passes (syntax, keys, values); report them as the user reads the
    /// input: file by file, line by line, then the flags.
    static func inWrittenOrder(_ errors: [ConfigError], files: [String]) -> [ConfigError] {
        func rank(_ origin: Origin?) -> (Int, Int) {
            switch origin {
            case .file(let path, let line): (files.firstIndex(of: path) ?? files.count, line)
            case .flag: (files.count, 0)
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

    static let allNames = ConfigKey.all.flatMap { [$0.name] + $0.aliases } + Array(ConfigKey.misleading.keys)

    static func key(named name: String) -> ConfigKey? { byName[name] }

    /// istio-iptables flags: `-b 80,443`, `-b=80`, `--istio-inbound-ports 80`,
    /// `--istio-inbound-ports=80`; switches (`--redirect-dns`) take no value unless written
    /// `--redirect-dns=false`.
    static func parseFlags(_ arguments: [String]) -> Result<[Setting], ConfigErrors> {
        var settings: [Setting] = []
        var errors: [ConfigError] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            let (flag, inline) = argument.split(separator: "=", maxSplits: 1).map(String.init).pair
            guard flag.hasPrefix("-"), let key = byFlag[flag] else {
                let known = Array(byFlag.keys)
                errors.append(ConfigError(origin: .flag(argument),
                    message: flag.hasPrefix("-") ? "unknown flag \(flag)\(suggestion(for: flag, among: known))"
                        : "unexpected argument \"\(argument)\"; config files are given with --config FILE"))
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
    static func suggestion(for name: String, among candidates: [String]) -> String {
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
