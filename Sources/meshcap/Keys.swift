import ArgumentParser
import MeshCapture

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every accepted config key: meaning, default, VM aliases and flags.")

    func run() {
        let shaping = ConfigKey.all.filter(\.shapesRules)
        let ignored = ConfigKey.all.filter { !$0.shapesRules }
        print("Keys that shape rules (Istio name; VM cluster.env/sidecar.env aliases; istio-iptables flags):\n")
        for key in shaping {
            print(key.name)
            print("    \(key.meaning)")
            print("    default: \(key.defaultValue.isEmpty ? "(empty)" : key.defaultValue)")
            if !key.aliases.isEmpty { print("    also:    \(key.aliases.joined(separator: ", "))") }
            if !key.flags.isEmpty { print("    flags:   \(key.flags.joined(separator: ", "))") }
        }
        print("\nAccepted and ignored (they shape no rule; --verbose reports them):\n")
        for key in ignored {
            let also = (key.aliases + key.flags).joined(separator: ", ")
            print("\(key.name)\(also.isEmpty ? "" : " (\(also))"): \(key.meaning)")
        }
        print("ISTIO_META_*: proxy metadata (except ISTIO_META_DNS_CAPTURE, an alias of REDIRECT_DNS)")
    }
}
