/// A packet or byte count as a dump prints it: decimal digits that fit the kernel's 64-bit
/// counter (and, in `iptables -L` without `-x`, a K, M, G or T after them). Anything else is
/// refused with why it is no count, each reason its own: a counter is what verify reports, and
/// "-1", "5K" in iptables-save or a count past 2^64 - 1 is a mangled dump, not a number to round.
public enum DumpCount {
    /// Why a written count is none: "-1 is negative".
    public struct Problem: Error {
        public let reason: String

        public init(reason: String) {
            self.reason = reason
        }
    }

    /// The count `text` writes.
    /// - Parameter suffixes: whether `iptables -L`'s rounding suffixes may follow the digits
    ///   (xtables_print_num: above 99999, thousands per step, suffixed K, M, G or T).
    public static func read(_ text: some StringProtocol, suffixes: Bool = false) throws(Problem) -> (value: UInt64, rounded: Bool) {
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

    /// A count of a line, or the error `fail` makes of it, naming which count and where:
    /// "the byte count in `[5:-1]`: -1 is negative".
    public static func read(_ text: some StringProtocol, _ which: String, in context: some StringProtocol, suffixes: Bool = false,
                     _ fail: (String) -> DumpError) throws(DumpError) -> (value: UInt64, rounded: Bool) {
        do {
            return try read(text, suffixes: suffixes)
        } catch {
            throw fail("the \(which) count in \(DumpText.quoted(context)): \(error.reason)")
        }
    }

    /// The text as a reason shows it: at most 40 characters, nothing a terminal would act on.
    public static func shown(_ text: some StringProtocol) -> String {
        (text.count > 40 ? String(text.prefix(37)) + "..." : String(text)).escapedForTerminal
    }
}

extension UInt64 {
    /// Decimal digits only: no sign, no blanks, nothing above 2^64 - 1.
    public init?(digits text: some StringProtocol) {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        self.init(text, radix: 10)
    }
}
