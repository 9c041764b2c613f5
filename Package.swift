// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "meshcap",
    products: [
        .executable(name: "meshcap", targets: ["meshcap"]),
    ],
    targets: [
        // The core: configuration, the typed rule model, the DSL, the capture plan, the probe's
        // plan and results, and the Dialect protocol with the live-rule types and the reading
        // every dialect reads into (from a host or a saved dump: the lines, counts and errors the
        // backends' dump readers share are here). No C, no I/O beyond reading the config files
        // it is given.
        .target(name: "MeshCapture"),
        // Backends only translate between the model and a syntax, both ways: render, parse (their
        // saved dumps too), recognise, plan a transition (a Dialect). They never decide policy
        // and do no I/O.
        .target(name: "IptablesBackend", dependencies: ["MeshCapture"]),
        // System libraries: module map + shim header each. libnftnl builds and parses nf_tables
        // messages; libmnl owns the netlink socket.
        .systemLibrary(name: "CNftnl", pkgConfig: "libnftnl", providers: [.apt(["libnftnl-dev"])]),
        .systemLibrary(name: "CMnl", pkgConfig: "libmnl", providers: [.apt(["libmnl-dev"])]),
        // The legacy x_tables getsockopt interface: kernel headers only, nothing to link.
        .systemLibrary(name: "CXtables"),
        // nft text, and the same rules as nf_tables expressions and netlink batches (in memory):
        // render, parse (its saved dumps too), recognise, plan.
        .target(name: "NftablesBackend", dependencies: ["MeshCapture", "CNftnl", "CMnl"]),
        // The only place with side effects: processes, sockets, namespaces, netlink, files written
        // (and the signals held meanwhile). Hosts read a dialect's Reading and send its Steps;
        // Site picks the kernel or the fake host (MESHCAP_FAKE_HOST). Probes the host.
        .target(name: "HostOps", dependencies: ["MeshCapture", "IptablesBackend", "NftablesBackend", "CNftnl", "CMnl", "CXtables"]),
        // `verify`: which dump format a text is, the comparison and the report (counters read back
        // through what each rule is for, verdicts, and the formats they are written in). Pure:
        // no I/O.
        .target(name: "Verify", dependencies: ["MeshCapture", "IptablesBackend", "NftablesBackend"]),
        // Stamps the commit into `meshcap --version`.
        .plugin(name: "BuildInfo", capability: .buildTool()),
        .executableTarget(name: "meshcap", dependencies: [
            "MeshCapture", "IptablesBackend", "NftablesBackend", "HostOps", "Verify",
        ], plugins: ["BuildInfo"]),
        // libFuzzer targets, one per saved-dump reader: `make fuzz` builds them with
        // -sanitize=fuzzer; a plain build makes each replay the files it is given.
        .target(name: "FuzzSupport", dependencies: ["Verify", "MeshCapture", "HostOps"], path: "Fuzz/Support"),
        .executableTarget(name: "FuzzIptablesSave", dependencies: ["FuzzSupport"], path: "Fuzz/IptablesSave"),
        .executableTarget(name: "FuzzIptablesListing", dependencies: ["FuzzSupport"], path: "Fuzz/IptablesListing"),
        .executableTarget(name: "FuzzIptablesRules", dependencies: ["FuzzSupport"], path: "Fuzz/IptablesRules"),
        .executableTarget(name: "FuzzNftListing", dependencies: ["FuzzSupport"], path: "Fuzz/NftListing"),
        .executableTarget(name: "FuzzNftJSON", dependencies: ["FuzzSupport"], path: "Fuzz/NftJSON"),
        // Paths, processes and diffs shared by the test targets.
        .target(name: "TestSupport", dependencies: ["MeshCapture"], path: "Tests/TestSupport"),
        .testTarget(name: "MeshCaptureTests", dependencies: ["MeshCapture", "TestSupport"]),
        .testTarget(name: "BackendTests", dependencies: ["MeshCapture", "IptablesBackend", "NftablesBackend", "HostOps", "Verify", "TestSupport"]),
        // Saved dumps read, verdicts, and the formats verify and doctor write, without a host.
        .testTarget(name: "VerifyTests", dependencies: ["Verify", "MeshCapture", "IptablesBackend", "NftablesBackend", "TestSupport"],
                    exclude: ["Dumps"]),
        // Runs the built `meshcap` binary: exit codes, messages, files written or not.
        .testTarget(name: "CLITests", dependencies: ["meshcap", "MeshCapture", "TestSupport"]),
        // Loads rules into fresh network namespaces and sends traffic through them, with the built
        // `meshcap` binary (which `swift build --build-tests` builds; nothing imports it); needs
        // root (and ../shared/conformance for the corpus).
        .testTarget(name: "KernelTests", dependencies: ["MeshCapture", "IptablesBackend", "NftablesBackend", "HostOps", "TestSupport"],
                    exclude: ["Fixtures"]),
    ]
)
