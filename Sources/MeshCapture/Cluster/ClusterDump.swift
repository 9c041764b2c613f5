#if canImport(Glibc)
import Glibc
#endif

/// Where `kubectl cluster-info dump` (or anything pasted from a cluster) says what the service
/// CIDR is. The range is no field of any API object: it is kube-apiserver's and
/// kube-controller-manager's `--service-cluster-ip-range` flag, which the dump shows in three
/// shapes, all found by one scan of the text rather than by parsing JSON (the dump is a stream of
/// JSON documents followed by container logs, and a kops command line is one shell string):
/// - an element of a static pod's `command` or `args`: `"--service-cluster-ip-range=10.96.0.0/12",`
///   (or the flag and its value as two elements);
/// - inside a shell string: `... exec kube-apiserver --service-cluster-ip-range=100.64.0.0/13 ...`,
///   the value possibly quoted (`=\"...\"`, `='...'`);
/// - kube-apiserver's start-up log: `FLAG: --service-cluster-ip-range="10.96.0.0/12"`.
/// The API server's refusal of an out-of-range ClusterIP names the range too ("The range of valid
/// IPs is 10.96.0.0/12"), which is the one way to learn it on a managed control plane.
/// OpenShift keeps it in its operators' configs, as keys of their own: the controller manager's
/// `observedConfig.extendedArguments` has `service-cluster-ip-range:` (a list), the API server's
/// `servicesSubnet:`, the cluster network config `serviceNetwork:` (a list).
///
/// The flag is read only where a control-plane program (kube-apiserver, kube-controller-manager,
/// hyperkube's `apiserver`, k3s) is the one saying it: its container's command and args, a
/// command line that names it before the flag, its own log (`==== START logs for container
/// kube-apiserver ...`), or, where the text does not say whose it is (a `grep` of a dump, a
/// pasted argument list), a flag standing as an argument of its own or in a `FLAG:` start-up
/// line. Never in a comment (`#` starting a word outside quotes), another container's command or
/// log, or prose. A value must be whole: one that ends with a comma, or that runs to the very
/// end of input with nothing after it, is a dump cut short, reported and not taken.
///
/// Fed line by line (`scan`, then `finish`), so a dump of any size is read in one pass without
/// being held.
public struct ClusterDump: Sendable {
    /// One place that states the range.
    public struct Finding: Sendable, Equatable {
        public let line: Int
        /// The prefixes as written, in their order (the first is the primary family).
        public let prefixes: [Prefix]
        /// "line 72, kube-system/kube-apiserver-cp-1 (container kube-apiserver)", "line 103, log of ...".
        public let place: String

        /// The API server's refusal names the range of one family only (the ClusterIP's asked
        /// for): it agrees with any statement that has that range among others.
        public let oneFamily: Bool

        /// Findings agree when they name the same prefixes, in whatever order.
        public var range: [Prefix] { prefixes.sorted() }
    }

    /// A flag whose value is not a list of CIDRs (say `$(SERVICE_RANGE)` in a templated manifest),
    /// or is one cut short.
    public struct Unreadable: Sendable, Equatable {
        public let line: Int
        public let value: String
        public let place: String
        /// What is wrong with it, said after the value: "is not a list of CIDRs".
        public let problem: String

        public init(line: Int, value: String, place: String, problem: String = "is not a list of CIDRs") {
            self.line = line
            self.value = value
            self.place = place
            self.problem = problem
        }
    }

    /// One range and every place that states it.
    public struct Statement: Sendable, Equatable {
        /// As the first place writes it.
        public let prefixes: [Prefix]
        public let findings: [Finding]
    }

    public private(set) var findings: [Finding] = []
    public private(set) var unreadable: [Unreadable] = []
    /// The `kubernetes` Service's ClusterIP in `default`: the first address of the range, so a
    /// hint where the dump holds no flag (managed control planes), never the range itself.
    public private(set) var kubernetesServiceAddress: IPAddress?
    /// The first line of an API server's refusal of a ClusterIP that does not name the range
    /// (Kubernetes before 1.10; EKS's "does not match the current range"): the fallback must
    /// not advise the probe that made it.
    public private(set) var refusalWithoutRange: (line: Int, eks: Bool)?
    /// The control-plane container whose log this is ("container kube-apiserver of pod
    /// kube-system/kube-apiserver-minikube"): at default verbosity it prints no flags.
    public private(set) var controlPlaneLog: String?

    static let flag = Array("--service-cluster-ip-range".utf8)
    static let refusal = Array("The range of valid IPs is ".utf8)
    static let logStart = Array("==== START logs for ".utf8)
    static let logEnd = Array("==== END logs for ".utf8)
    static let nameKey = Array(#""name": ""#.utf8)
    static let namespaceKey = Array(#""namespace": ""#.utf8)
    static let clusterIPKey = Array(#""clusterIP": ""#.utf8)
    static let flagLog = Array("FLAG:".utf8)
    static let documentStart = Array("---".utf8)
    /// OpenShift's keys that hold the range (see the type's comment), bare or JSON-quoted.
    static let openShiftKeys = ["service-cluster-ip-range", "servicesSubnet", "serviceNetwork"].flatMap { [Array("\($0):".utf8), Array("\"\($0)\":".utf8)] }
    /// A refusal's words when it names no range.
    static let rangelessRefusals = [Array("provided IP is not in the valid range".utf8), Array("does not match the current range".utf8)]
    /// The programs that take --service-cluster-ip-range, by the names their binaries, containers
    /// and hyperkube's subcommands have.
    static let controlPlane: Set<String> = ["kube-apiserver", "kube-controller-manager", "apiserver", "controller-manager", "k3s"]
    static let controlPlaneBytes = controlPlane.map { Array($0.utf8) }

    /// Whose words the lines being read are, as far as the dump says.
    enum Speaker {
        case unknown
        case controlPlane
        case other
    }

    // Where in the dump the scan is, for saying where a finding came from.
    private var lineNumber = 0
    private var log: String?
    private var lastName: String?
    private var object: String?
    private var container: String?
    private var inKubernetesService = false
    /// In a log section, the log's container; outside, the container or command being read.
    private var speaker = Speaker.unknown
    /// The flag ended a JSON array element (`"--service-cluster-ip-range",`): the value is the
    /// next element, on the next line of a pretty-printed dump.
    private var valueOnNextLine: String?
    /// A value on the line just read that runs to its very end: if the input ends there without
    /// a line end, it may be cut short (`finish`).
    private var valueAtEndOfLine: (finding: Int, value: String)?

    public init() {}

    /// The distinct ranges found, in the order they first appear: one when the dump agrees with
    /// itself, several when a range was changed without restarting every component.
    public var statements: [Statement] {
        var ranges: [[Prefix]] = []
        var members: [[Prefix]: [Finding]] = [:]
        func add(_ finding: Finding, to range: [Prefix]) {
            if members[range] == nil { ranges.append(range) }
            members[range, default: []].append(finding)
        }
        for finding in findings where !finding.oneFamily { add(finding, to: finding.range) }
        // A refusal joins the range that has its prefix. Refusals no flag explains (one asked with
        // an IPv4 address, one with IPv6) make one range when each family's agree.
        var unexplained: [Finding] = []
        for finding in findings where finding.oneFamily {
            if let whole = ranges.first(where: { Set(finding.prefixes).isSubset(of: $0) }) { add(finding, to: whole) } else { unexplained.append(finding) }
        }
        let perFamily = Dictionary(grouping: unexplained) { $0.prefixes[0].family }
        let combined = perFamily.values.flatMap { $0[0].prefixes }.sorted()
        let agree = perFamily.values.allSatisfy { Set($0.map(\.range)).count == 1 }
        for finding in unexplained { add(finding, to: agree ? combined : finding.range) }
        return ranges.map { range in
            let found = members[range]!.sorted { $0.line < $1.line }
            return Statement(prefixes: found.first { !$0.oneFamily }?.prefixes ?? range, findings: found)
        }
    }

    /// The next line of the dump, without its line end.
    public mutating func scan(_ line: ArraySlice<UInt8>) {
        lineNumber += 1
        valueAtEndOfLine = nil
        // A CRLF dump's CR, if the caller left it: a value followed by it is complete.
        let whole = line.last == 0x0d ? line.dropLast() : line
        // Comments are nobody's command; a program's own log is not commented.
        let line = log == nil && whole.holds(UInt8(ascii: "#")) ? whole.uncommented : whole
        let text = line.trimmingBlanks
        if let pending = valueOnNextLine {
            valueOnNextLine = nil
            // A YAML list's next item (`- 10.96.0.0/12`), or a JSON array's next element.
            let item = text.starts(with: [UInt8(ascii: "-"), UInt8(ascii: " ")]) ? text.dropFirst(2) : text
            record(word(item), in: whole, place: pending)
        }
        if text.starts(with: Self.logStart) {
            // "==== START logs for container C of pod NS/P ===="
            let header = text.dropFirst(Self.logStart.count).dropLast(4).trimmingBlanks
            log = "log of " + String(decoding: header, as: UTF8.self)
            let container = header.split(separator: 0x20).dropFirst().first.map { String(decoding: $0, as: UTF8.self) }
            speaker = container.map(Self.controlPlane.contains) == true ? .controlPlane : .other
            if speaker == .controlPlane, controlPlaneLog == nil { controlPlaneLog = String(decoding: header, as: UTF8.self) }
            return
        }
        if text.starts(with: Self.logEnd) {
            log = nil
            speaker = .unknown
            return
        }
        if log == nil {
            // Something new begins at the start of a line (a JSON document, a YAML one or its
            // top-level key, a log line, `kubectl describe`'s next object): what was known about
            // whose words the lines are no longer holds. Commands and lists are indented, or
            // begin with `-` or `/`.
            if let first = whole.first, first.isLetter || first.isDigit || first == UInt8(ascii: "{") || whole.starts(with: Self.documentStart) {
                speaker = .unknown
            }
            follow(text)
            // A command's item that names the program (`- kube-apiserver`, `"/hyperkube", "apiserver"`,
            // `Command:` then `kube-apiserver` in `kubectl describe`): what follows is its.
            // (A path is short: the lines of a dump's JSON are not looked at word by word.)
            if text.count <= 256, let program = text.loneWord, Self.isControlPlane(program) {
                speaker = .controlPlane
            }
        }
        var rest = line
        while let start = Self.find(Self.flag, in: rest) {
            let place = self.place
            var after = rest[start.upperBound...]
            rest = after
            // `--service-cluster-ip-range-foo` is another flag.
            if let next = after.first, next == UInt8(ascii: "-") || next.isLetter { continue }
            guard isControlPlanes(flagAt: start.lowerBound, in: line) else { continue }
            after = after.droppingQuotes
            var spaced = false
            if after.first == UInt8(ascii: ",") {
                // The flag was a JSON array element; its value is the next one.
                after = after.dropFirst().trimmingBlanks
                if after.isEmpty {
                    valueOnNextLine = place
                    break
                }
            } else if after.trimmingBlanks.isEmpty {
                // A YAML list item (`- --service-cluster-ip-range`); its value is the next item.
                valueOnNextLine = place
                break
            } else if after.first == UInt8(ascii: "=") {
                after = after.dropFirst()
            } else if after.first == UInt8(ascii: " ") {
                after = after.dropFirst()
                spaced = true
            }
            let found = word(after)
            // `--flag value` is a value only if it looks like one: "Flag --service-cluster-ip-range
            // has been deprecated" is prose.
            if case .unreadable = found.word, spaced {} else { record(found, in: whole, place: place) }
            rest = after[found.end...]
        }
        if let start = Self.find(Self.refusal, in: line) {
            record(word(line[start.upperBound...]), in: whole, place: "line \(lineNumber), the API server's refusal of a ClusterIP outside the range", oneFamily: true)
        } else if refusalWithoutRange == nil, let phrase = Self.rangelessRefusals.firstIndex(where: { Self.find($0, in: line) != nil }) {
            refusalWithoutRange = (lineNumber, phrase == 1)
        }
        if log == nil, let key = Self.openShiftKeys.first(where: { text.starts(with: $0) }) {
            let name = String(decoding: key.filter { $0 != UInt8(ascii: "\"") }.dropLast(), as: UTF8.self)
            let place = "line \(lineNumber), OpenShift's `\(name):`"
            var value = text.dropFirst(key.count).trimmingBlanks
            if value.isEmpty || value.elementsEqual([UInt8(ascii: "[")]) {
                // A YAML list, or a pretty-printed JSON array: its item is the next line.
                valueOnNextLine = place
            } else {
                // A flow list, YAML's or JSON's: `[172.30.0.0/16, fd02::/112]`, `["172.30.0.0/16"]`,
                // read as the flag's comma-separated value.
                if value.first == UInt8(ascii: "["), let close = value.lastIndex(of: UInt8(ascii: "]")) {
                    let blank: Set<UInt8> = [0x20, 0x09, UInt8(ascii: "\"")]
                    value = ArraySlice(value[value.index(after: value.startIndex)..<close].filter { !blank.contains($0) })
                }
                record(word(value.droppingQuotes), in: whole, place: place)
            }
        }
    }

    /// The input ended; `lastLineEnded` says whether with a line end. Without one, a value that
    /// runs to the end of the last line may be a longer one cut off (`fd00::/108` read as
    /// `fd00::/10`): it is reported, not taken.
    public mutating func finish(lastLineEnded: Bool) {
        guard !lastLineEnded, let (index, value) = valueAtEndOfLine else { return }
        let finding = findings.remove(at: index)
        unreadable.append(Unreadable(line: finding.line, value: value, place: finding.place,
                                     problem: "ends the input with nothing after it (no quote, comma, blank or line end): the dump may be cut short inside it"))
        valueAtEndOfLine = nil
    }

    /// Whether the flag that begins at `start` is a control-plane program's to say (see the type's
    /// comment).
    private func isControlPlanes(flagAt start: Int, in line: ArraySlice<UInt8>) -> Bool {
        if log != nil { return speaker == .controlPlane }
        let before = line[..<start]
        if Self.namesControlPlane(before) { return true }
        switch speaker {
        case .controlPlane: return true
        case .other: return false
        case .unknown:
            return before.allSatisfy { [0x20, 0x09, UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "-"), UInt8(ascii: "["), UInt8(ascii: ",")].contains($0) }
                || before.trimmingBlanks.reversed().starts(with: Self.flagLog.reversed())
        }
    }

    /// Whether a word of `text` is a control-plane program (`exec /usr/local/bin/kube-apiserver`,
    /// `Running kube-apiserver`, `\"command\":[\"kube-apiserver\"`); flags are not programs.
    static func namesControlPlane(_ text: ArraySlice<UInt8>) -> Bool {
        text.split { [0x20, 0x09, UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: ","), UInt8(ascii: "["), UInt8(ascii: "]"),
                      UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: ";"), UInt8(ascii: "\\")].contains($0) }
            .contains { $0.first != UInt8(ascii: "-") && isControlPlane($0) }
    }

    /// Whether the word, or its last path component, is a control-plane program's name. On the
    /// bytes: it is asked of most lines of a dump.
    static func isControlPlane(_ word: ArraySlice<UInt8>) -> Bool {
        controlPlaneBytes.contains { name in
            word.count >= name.count && word.suffix(name.count).elementsEqual(name)
                && (word.count == name.count || word[word.endIndex - name.count - 1] == UInt8(ascii: "/"))
        }
    }

    /// Tracks the JSON around the scan: the object (metadata `name` followed by `namespace`), the
    /// container (the last `name` after it: a container's name comes before its command), and
    /// whether this is the `kubernetes` Service in `default` (whose ports have names of their own,
    /// so only the next object's namespace ends it).
    private mutating func follow(_ text: ArraySlice<UInt8>) {
        guard text.first == UInt8(ascii: "\"") else { return }
        if let name = Self.jsonString(text, key: Self.nameKey) {
            lastName = name
            container = object == nil ? nil : name
            // A container's name comes before its command and args.
            if object != nil { speaker = Self.controlPlane.contains(name) ? .controlPlane : .other }
        } else if let namespace = Self.jsonString(text, key: Self.namespaceKey) {
            if let lastName { object = "\(namespace)/\(lastName)" }
            container = nil
            speaker = .unknown
            inKubernetesService = lastName == "kubernetes" && namespace == "default"
        } else if inKubernetesService, let address = Self.jsonString(text, key: Self.clusterIPKey) {
            kubernetesServiceAddress = IPAddress(address)
            inKubernetesService = false
        }
    }

    private var place: String {
        if let log { return "line \(lineNumber), \(log)" }
        guard let object else { return "line \(lineNumber)" }
        return "line \(lineNumber), \(object)" + (container.map { " (container \($0))" } ?? "")
    }

    /// A flag's value as the scan sees it: a run of the characters CIDR lists are made of, or a
    /// word that is something else (`$(RANGE)`, `10.96.0.0/12x`, an empty string) or cut short.
    private enum Word {
        case value(String)
        case unreadable(String, problem: String = "is not a list of CIDRs")
    }

    /// The word at the start of `text` (opening quotes skipped), and where it ends.
    private func word(_ text: ArraySlice<UInt8>) -> (word: Word, end: ArraySlice<UInt8>.Index) {
        let start = text.droppingQuotes
        let end = start.firstIndex { !($0.isHexDigit || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ":")
                                        || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ",")) } ?? start.endIndex
        // A complete value is followed by a quote, a blank, a backslash or `;` (shell strings),
        // or the end of the line.
        if end < start.endIndex, !Self.endsValue(start[end]) {
            let wordEnd = start[end...].firstIndex(where: Self.endsValue) ?? start.endIndex
            return (.unreadable(String(decoding: start[..<wordEnd], as: UTF8.self)), wordEnd)
        }
        let value = String(decoding: start[..<end], as: UTF8.self)
        // A list is never written with a comma last: it was cut after one (`10.96.0.0/12,` of
        // `10.96.0.0/12,fd00::/108`).
        if value.hasSuffix(",") { return (.unreadable(value, problem: "ends with a comma: the list is cut short after it"), end) }
        return (value.isEmpty ? .unreadable("") : .value(value), end)
    }

    private static func endsValue(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
            || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: ";")
    }

    /// Records the word read from `line`, noting a value that runs to the line's very end.
    private mutating func record(_ found: (word: Word, end: ArraySlice<UInt8>.Index), in line: ArraySlice<UInt8>, place: String, oneFamily: Bool = false) {
        switch found.word {
        // An empty value is the flag unset, as kube-controller-manager logs it: nothing to say.
        case .unreadable("", _):
            break
        case .unreadable(let text, let problem):
            unreadable.append(Unreadable(line: lineNumber, value: text, place: place, problem: problem))
        case .value(let text):
            var prefixes: [Prefix] = []
            for item in text.split(separator: ",", omittingEmptySubsequences: false) {
                // A range is a network with its length: a bare address or host bits are no range.
                guard item.contains("/"), let prefix = try? Prefix.parse(item) else {
                    unreadable.append(Unreadable(line: lineNumber, value: text, place: place))
                    return
                }
                prefixes.append(prefix)
            }
            findings.append(Finding(line: lineNumber, prefixes: prefixes, place: place, oneFamily: oneFamily))
            if found.end == line.endIndex { valueAtEndOfLine = (findings.count - 1, text) }
        }
    }

    /// Where `needle` first occurs in `haystack`. Every line of a dump of hundreds of MiB is
    /// searched twice, so this runs on the bytes: a scan for the first byte, then a compare.
    static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Range<Int>? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        return haystack.withUnsafeBufferPointer { bytes -> Range<Int>? in
            needle.withUnsafeBufferPointer { pattern -> Range<Int>? in
                var index = 0
                let last = bytes.count - pattern.count
                while index <= last {
                    if bytes[index] == first && memcmp(bytes.baseAddress! + index, pattern.baseAddress!, pattern.count) == 0 {
                        return (haystack.startIndex + index)..<(haystack.startIndex + index + pattern.count)
                    }
                    index += 1
                }
                return nil
            }
        }
    }

    /// `"key": "value"` on a line of pretty-printed JSON, or nil.
    static func jsonString(_ text: ArraySlice<UInt8>, key opening: [UInt8]) -> String? {
        guard text.starts(with: opening) else { return nil }
        let rest = text.dropFirst(opening.count)
        guard let close = rest.firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return String(decoding: rest[..<close], as: UTF8.self)
    }
}

private extension ArraySlice<UInt8> {
    var trimmingBlanks: ArraySlice<UInt8> {
        var slice = self
        while let first = slice.first, first == 0x20 || first == 0x09 { slice = slice.dropFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 || last == 0x0d { slice = slice.dropLast() }
        return slice
    }

    /// Past the quotes and escapes that open a value: `"`, `'`, `\"`.
    var droppingQuotes: ArraySlice<UInt8> {
        drop { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "'") || $0 == UInt8(ascii: "\\") }
    }

    /// Whether the byte is in the slice: memchr, as every line of a large dump is asked.
    func holds(_ byte: UInt8) -> Bool {
        withUnsafeBufferPointer { bytes in bytes.baseAddress.map { memchr($0, Int32(byte), bytes.count) != nil } ?? false }
    }

    /// Up to a comment: `#` starting a word outside quotes, as YAML and the shell have it (a
    /// backslash escapes inside double quotes, as JSON and the shell write `\"`). `/events#https`
    /// is no comment.
    var uncommented: ArraySlice<UInt8> {
        var quote: UInt8?
        var escaped = false
        var previous: UInt8 = 0x20
        for index in indices {
            let byte = self[index]
            defer { previous = byte }
            if escaped {
                escaped = false
            } else if let open = quote {
                if byte == UInt8(ascii: "\\") && open == UInt8(ascii: "\"") { escaped = true } else if byte == open { quote = nil }
            } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                quote = byte
            } else if byte == UInt8(ascii: "#") && (previous == 0x20 || previous == 0x09) {
                return self[..<index]
            }
        }
        return self
    }

    /// The one word a line holds once list and quote syntax is taken off (`- kube-apiserver`,
    /// `"kube-apiserver",`, `kube-apiserver:`), or nil for a line of several words or a flag.
    var loneWord: ArraySlice<UInt8>? {
        var word = first == UInt8(ascii: "-") && dropFirst().first == 0x20 ? dropFirst(2) : self
        // Most lines of a dump have a blank in them: said no at once.
        guard !word.contains(where: { $0 == 0x20 || $0 == 0x09 }) else { return nil }
        word = word.drop { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "'") }
        while let last = word.last, last == UInt8(ascii: "\"") || last == UInt8(ascii: "'") || last == UInt8(ascii: ",") || last == UInt8(ascii: ":") {
            word = word.dropLast()
        }
        guard !word.isEmpty, word.first != UInt8(ascii: "-") else { return nil }
        return word
    }
}

private extension UInt8 {
    var isLetter: Bool { (self | 0x20) >= UInt8(ascii: "a") && (self | 0x20) <= UInt8(ascii: "z") }
    var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
    var isHexDigit: Bool {
        isDigit || ((self | 0x20) >= UInt8(ascii: "a") && (self | 0x20) <= UInt8(ascii: "f"))
    }
}
