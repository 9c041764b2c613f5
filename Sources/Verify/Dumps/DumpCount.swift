import MeshCapture

/// A packet or byte count as a dump prints it: decimal digits that fit the kernel's 64-bit
/// counter (and, in `iptables -L` without `-x`, a K, M, G or T after them). Anything else is
/// refused with why it is no count, each reason its own: a counter is what verify reports, and
/// "-1", "5K" in iptables-save or a count past 2^64 - 1 is a mangled dump, not a number to round.
enum DumpCount {
    /// Why a written count is none: "-1 is negative".
    struct Problem: Error {
        let reason: String
    }

    /// The count `text` writes.
    /// - Parameter suffixes: whether `iptables -L`'s rounding suffixes may follow the digits
    ///   (xtables_print_num: above 99999, thousands per step, suffixed K, M, G or T).
    static func read(_ text: some StringProtocol, suffixes: Bool = false) throws(Problem) -> (value: UInt64, rounded: Bool) {
        let shown = Self.shown(text)
        let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        var digits = Substring(text)
        var power = -1
        if suffixes, let last = text.last, let index = ["K", "M", "G", "T"].firstIndex(of: String(last)), text.utf8.dropLast().allSatisfy(isDigit) {
            digits = digits.dropLast()
            power = index
        }
        guard !digits.isEmpty else { throw Problem(reason: text.isEmpty ? "the count is empty" : "\(shown) is not a whole number") }
        guard digits.utf8.allSatisfy(isDigit) else {
            let negative = digits.hasPrefix("-") && digits.dropFirst().first?.isNumber == true
            throw Problem(reason: negative ? "\(shown) is negative" : "\(shown) is not a whole number")
        }
        guard var value = UInt64(digits) else { throw Problem(reason: "\(shown) is more than a 64-bit counter holds") }
        if power >= 0 {
            for _ in 0...power {
                let (product, overflow) = value.multipliedReportingOverflow(by: 1000)
                guard !overflow else { throw Problem(reason: "\(shown) is more than a 64-bit counter holds") }
                value = product
            }
        }
        return (value, power >= 0)
    }

    /// The count a value of `nft -j` writes: a JSON number in digits.
    static func read(_ value: JSONValue) throws(Problem) -> UInt64 {
        switch value.kind {
        case .number(let text):
            if text.contains(where: { $0 == "e" || $0 == "E" }) && !text.hasPrefix("-") {
                throw Problem(reason: "\(shown(text)) has an exponent: nft writes a count in digits")
            }
            return try read(text).value
        case .string(let text): throw Problem(reason: "\(shown("\"\(text)\"")) is a string, not a number")
        case .null: throw Problem(reason: "null is not a number")
        case .bool(let flag): throw Problem(reason: "\(flag) is not a number")
        case .object: throw Problem(reason: "an object is not a number")
        case .array: throw Problem(reason: "a list is not a number")
        }
    }

    /// A count of a line, or the error `fail` makes of it, naming which count and where:
    /// "the byte count in `[5:-1]`: -1 is negative".
    static func read(_ text: some StringProtocol, _ which: String, in context: some StringProtocol, suffixes: Bool = false,
                     _ fail: (String) -> DumpError) throws(DumpError) -> (value: UInt64, rounded: Bool) {
        do {
            return try read(text, suffixes: suffixes)
        } catch {
            throw fail("the \(which) count in \(DumpText.quoted(context)): \(error.reason)")
        }
    }

    /// The same for a count of `nft -j`.
    static func read(_ value: JSONValue, _ which: String, in context: some StringProtocol,
                     _ fail: (String) -> DumpError) throws(DumpError) -> UInt64 {
        do {
            return try read(value)
        } catch {
            throw fail("the \(which) count in \(DumpText.quoted(context)): \(error.reason)")
        }
    }

    /// The text as a reason shows it: at most 40 characters, nothing a terminal would act on.
    static func shown(_ text: some StringProtocol) -> String {
        (text.count > 40 ? String(text.prefix(37)) + "..." : String(text)).escapedForTerminal
    }
}
