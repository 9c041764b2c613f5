import HostOps
import MeshCapture

/// What `doctor` asks of the kernel: each a small config whose rules need exactly that support,
/// loaded by the backends apply uses. A failure names the modules to load.
enum KernelFeature: String, CaseIterable {
    case redirect
    case tproxy
    case zones

    var title: String {
        switch self {
        case .redirect: "nat, owner match, REDIRECT"
        case .tproxy: "TPROXY, socket match, marks, policy routing"
        case .zones: "conntrack zones (DNS capture)"
        }
    }

    /// istio-iptables flags for a config that needs the feature and little else.
    var flags: [String] {
        switch self {
        case .redirect: ["-i", "10.96.0.0/12", "-b", "*", "-d", "22", "-u", "1337"]
        case .tproxy: ["-m", "TPROXY", "-b", "*", "-d", "22", "-u", "1337"]
        case .zones: ["--redirect-dns", "--capture-all-dns", "-u", "1337"]
        }
    }

    func modules(_ backend: String) -> String {
        let nft = backend == "nft"
        return switch self {
        case .redirect: nft ? "nf_tables nft_chain_nat nft_redir nft_meta" : "iptable_nat xt_owner xt_REDIRECT xt_comment xt_tcpudp xt_multiport"
        case .tproxy: nft ? "nft_tproxy nft_socket nft_ct" : "iptable_mangle xt_TPROXY xt_socket xt_mark xt_conntrack"
        case .zones: nft ? "nft_ct nf_conntrack" : "iptable_raw xt_CT"
        }
    }
}

/// `doctor`'s helper: made a network namespace of its own (so the host's tables are never
/// touched), loads each feature's rules with each backend installed, and prints one line per
/// attempt: `feature<TAB>backend<TAB>ok` or `...<TAB>the error`. The namespace goes with it.
struct KernelProbe: Subcommand {
    static let spec = CommandSpec(
        name: "kernel-probe",
        abstract: "Internal, run by `doctor`: load each feature's rules in a network namespace of its own and say which loaded.",
        hidden: true)

    init(_ arguments: Arguments) {}

    func run() throws {
        try NetworkNamespace.enterNew()
        // Policy routing needs lo up; a new namespace has it down.
        _ = try? NetworkNamespace.bringLoopbackUp()
        let accounts = try AccountDatabase(passwdPath: "/dev/null", groupPath: "/dev/null")
        // Every backend this kernel might be asked for, whatever the options say.
        var hosts: [any FirewallHost] = [try Site.kernel.nft()]
        for variant in IptablesVariant.allCases where Command.locate("iptables-\(variant.rawValue)-restore") != nil {
            hosts.append(try Site.kernel.iptables(variant, wait: 5))
        }
        for feature in KernelFeature.allCases {
            let loaded = try ConfigLoader.load(files: [], flags: feature.flags, accounts: accounts)
            let plan = CapturePlan(loaded.config)
            for host in hosts {
                var outcome = "ok"
                // Journaled as any apply and clean; the clean forgets the record, and the journal's
                // directory goes with it.
                let session = HostSession(firewall: host, routing: try Site.kernel.routing(), journal: Site.kernel.journal())
                do {
                    _ = try session.apply(plan.desired(accounts, in: host.dialect),
                                          record: Journal.record(plan.config, host: host), dryRun: false)
                    _ = try session.journaled(.clean, forgetting: true) { _ in try session.clean(recognising: nil, dryRun: false) }
                } catch let failure as Failure {
                    outcome = failure.lines.joined(separator: "; ")
                }
                print("\(feature.rawValue)\t\(host.name)\t\(outcome.replacing("\t", with: " ").replacing("\n", with: " "))")
            }
        }
    }
}
