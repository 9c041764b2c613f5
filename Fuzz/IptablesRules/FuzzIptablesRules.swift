import FuzzSupport

/// libFuzzer's entry (`make fuzz`): one input, read as `iptables -S -v` output.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzInput.read(data, size, as: .iptablesRules)
}

/// Under libFuzzer, its driver; else a replay of the files given (see `FuzzInput.main`).
@main enum Main {
    static func main() { FuzzInput.main(as: .iptablesRules, fuzz) }
}
