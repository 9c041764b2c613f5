#if canImport(Glibc)
import Glibc
#endif
import HostOps
import MeshCapture
import Verify

/// What each fuzz target does with an input: read it as one dump format, and when that gives a
/// reading, make the report of it (with and without a config) in every output format. Whatever
/// the bytes, this must return, in bounded time, without a crash: a dump is either read or
/// refused with a DumpError.
public enum FuzzInput {
    /// A config's rules for both backends, to match fuzzed rules against (`-i 10.96.0.0/12
    /// -b 8080 -o 9090 --ipv6`, the DNS and owner rules Istio adds by default).
    static let desired: DesiredState? = {
        guard let loaded = try? ConfigLoader.load(files: [], flags: ["-i", "10.96.0.0/12,fd00::/8", "-b", "8080", "-o", "9090", "--ipv6"],
                                                  accounts: AccountDatabase(users: [:], groups: [:]), resolvConf: "/dev/null") else { return nil }
        let plan = CapturePlan(loaded.config)
        return DesiredState(rulesets: [.inet, .xtables(.ipv4), .xtables(.ipv6)].map(plan.ruleset), routing: [], resolve: { _, _ in nil })
    }()

    public static func read(_ data: UnsafePointer<UInt8>?, _ size: Int, as format: SavedDump.Format) -> Int32 {
        _ = exercise(String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self), as: format)
        return 0
    }

    /// The reports of the input, or why it was refused.
    static func exercise(_ text: String, as format: SavedDump.Format) -> DumpError? {
        let reading: CounterReading
        do {
            reading = try SavedDump.read(text, as: format, name: "fuzz")
        } catch {
            return error
        }
        for desired in [nil, desired] {
            let report = VerifyReport(reading, desired: desired)
            _ = JSONReport.render(report)
            _ = HumanTable.render(report)
            _ = Prometheus.render(report)
        }
        return nil
    }

    /// A target's main. Built for fuzzing (`-sanitize=fuzzer -DFUZZING`), it hands over to
    /// libFuzzer's driver with `entry` (which of the two mains the linker keeps, libFuzzer's or
    /// this, depends on the link; both fuzz). Otherwise it reads the files it is given, one input
    /// each: how a crash libFuzzer saved is replayed under a debugger.
    public static func main(as format: SavedDump.Format, _ entry: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Never {
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runDriver(&argc, &argv, entry))
        #else
        replay(as: format)
        exit(0)
        #endif
    }

    static func replay(as format: SavedDump.Format) {
        for path in CommandLine.arguments.dropFirst() {
            guard let file = fopen(path, "rb") else {
                TextFile.standardError("\(path): \(Errno.describe(errno))\n")
                exit(2)
            }
            var bytes: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = fread(&chunk, 1, chunk.count, file)
                if count == 0 { break }
                bytes += chunk[..<count]
            }
            fclose(file)
            let refused = exercise(String(decoding: bytes, as: UTF8.self), as: format)
            print("\(path) as \(format.rawValue): \(refused.map { "refused: \($0.problem)" } ?? "read")")
        }
    }
}

#if FUZZING
/// libFuzzer's driver (LLVM 11 and later): runs `callback` on inputs as its command line says.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
               _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32
#endif
