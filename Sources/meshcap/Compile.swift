import HostOps
import IptablesBackend
import MeshCapture
import NftablesBackend

/// What `compile` prints: a syntax, or the batch meshcap sends itself.
enum RuleSyntax: String, ArgumentValue, CaseIterable {
    case iptables
    case nft
    /// The nf_tables batch meshcap sends itself, as text.
    case netlink
}

extension Family: ArgumentValue {}

struct Compile: Subcommand {
    static let spec = CommandSpec(
        name: "compile",
        abstract: "Print the rules for a config, or write them all to a directory.",
        discussion: """
            Examples:
              meshcap compile --config Rules/vm-mesh-expansion.env
              meshcap compile --config cluster.env -b '*' -d 22 --backend nft
              meshcap compile --config cluster.env --output-dir out/   # rules.v4, rules.v6, rules.nft
            The output depends only on the config: same input, same bytes.
            """,
        options: ConfigOptions.options + [
            OptionSpec("backend", .single(name: "backend", completion: .words(RuleSyntax.choices)),
                       help: "iptables (iptables-restore input, the default), nft (an nft -f script) or netlink (the nf_tables batch `apply` sends, as text)."),
            OptionSpec("family", .single(name: "family", completion: .words(Family.choices)),
                       help: "With --backend iptables: the family to print. Default: ipv4."),
            OptionSpec("output-dir", .single(name: "dir", completion: .directory),
                       help: "Write rules.v4, rules.v6 (when IPv6 is on) and rules.nft here instead of printing, as one set: a file the config no longer makes is removed, and a failure changes nothing. Only regular files: a symbolic link is written through to the regular file it names, and a device, FIFO, socket or directory (or a link to one) under one of those names is refused with exit 2."),
        ],
        operands: ConfigOptions.operands)

    let config: ConfigOptions
    let backend: RuleSyntax
    let family: Family
    let outputDir: String?

    init(_ arguments: Arguments) throws {
        config = try ConfigOptions(arguments)
        backend = try arguments.value("backend") ?? .iptables
        family = try arguments.value("family") ?? .ipv4
        outputDir = try arguments.value("output-dir")
    }

    func run() throws {
        let (loaded, accounts) = try config.load()
        let plan = CapturePlan(loaded.config)
        guard backend != .iptables || plan.config.families.contains(family) else {
            throw ConfigError(origin: .flag("--family"), message: "--family ipv6 needs ENABLE_INBOUND_IPV6=true (or --ipv6); without it there are no IPv6 rules")
        }
        Report.say(plan.listNotes(for: outputDir == nil && backend == .iptables ? .xtables(family) : .inet))
        // sshd's default port: this machine's sshd config is not the VM's (doctor reads that one).
        Report.warning(SSHPorts().lockOuts(plan).map { "\($0.sentence) (sshd's default; `meshcap doctor --sshd-config` checks the VM's own); fix: \($0.fix)" })
        if let outputDir {
            var files = [("rules.v4", IptablesRenderer.render(plan.ruleset(for: .xtables(.ipv4))))]
            if plan.config.ipv6 { files.append(("rules.v6", IptablesRenderer.render(plan.ruleset(for: .xtables(.ipv6))))) }
            files.append(("rules.nft", NftRenderer.render(plan.ruleset(for: .inet))))
            try RuleFiles.write(files, into: outputDir)
            return
        }
        switch backend {
        case .iptables:
            print(IptablesRenderer.render(plan.ruleset(for: .xtables(family))), terminator: "")
        case .nft:
            print(NftRenderer.render(plan.ruleset(for: .inet)), terminator: "")
        case .netlink:
            print(try NetlinkBatch.replacing(with: plan.ruleset(for: .inet), resolve: accounts.resolver).text, terminator: "")
        }
    }
}
