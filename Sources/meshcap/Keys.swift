import MeshCapture

struct Keys: Subcommand {
    static let spec = CommandSpec(name: "keys", abstract: "List every accepted config key: meaning, default, VM aliases and flags.")

    init(_ arguments: Arguments) {}

    func run() {
        print("Keys that shape rules (Istio name; VM cluster.env/sidecar.env aliases; istio-iptables flags):\n")
        for key in ConfigKey.all where key.shapesRules {
            print(key.name)
            print("    \(key.meaning)")
            print("    default: \(key.defaultValue.isEmpty ? "(empty)" : key.defaultValue)")
            if !key.aliases.isEmpty { print("    also:    \(key.aliases.joined(separator: ", "))") }
            if !key.flags.isEmpty { print("    flags:   \(key.flags.joined(separator: ", "))") }
        }
        print("\nKeys that change what apply does, as in istio-iptables:\n")
        for key in ConfigKey.all {
            guard case .run = key.effect else { continue }
            print("\(key.name) (\(key.flags.joined(separator: ", "))): \(key.meaning)")
        }
        print("\nAccepted and ignored (they shape no rule; --verbose reports them):\n")
        for key in ConfigKey.all {
            guard case .none = key.effect else { continue }
            let also = (key.aliases + key.flags).joined(separator: ", ")
            print("\(key.name)\(also.isEmpty ? "" : " (\(also))"): \(key.meaning)")
        }
        print("ISTIO_META_*: proxy metadata (except ISTIO_META_DNS_CAPTURE, an alias of REDIRECT_DNS)")
        print("\nAny other key in a file is reported as unknown (--strict: an error); istioctl copies the mesh's")
        print("proxyMetadata keys into cluster.env, so their set is open-ended.")
    }
}
