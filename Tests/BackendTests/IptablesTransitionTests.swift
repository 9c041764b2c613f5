import IptablesBackend
import MeshCapture
import Testing

/// The restore input that takes a live table to the planned one, computed from iptables-save text.
@Suite struct IptablesTransitionTests {
    static let numeric: OwnerResolver = { _, _ in nil }

    func ruleset(_ flags: [String], family: Family = .ipv4) throws -> Ruleset {
        let config = try ConfigLoader.load(files: [], flags: flags + ["-u", "1337"], accounts: AccountDatabase(users: [:], groups: [:]), resolvConf: "/dev/null").config
        return CapturePlan(config).ruleset(for: .xtables(family))
    }

    /// What iptables-save prints once `ruleset` is in force (meshcap's built-in rules tagged), with
    /// other software's lines before and after meshcap's block in the built-in chains.
    func saved(_ ruleset: Ruleset?, table: String, before: [String: [String]] = [:], after: [String: [String]] = [:],
               extraChains: [String] = []) -> IptablesSave.Table? {
        var lines = ["*\(table)"]
        let mine = ruleset?.table(TableKind(rawValue: table) ?? .nat)
        let builtins = table == "nat" ? ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"] : ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]
        lines += builtins.map { ":\($0) ACCEPT [0:0]" }
        let regulars = (mine?.chains ?? []).compactMap { if case .regular(let name) = $0.name { name } else { nil } } + extraChains
        lines += regulars.sorted().map { ":\($0) - [0:0]" }
        for name in builtins {
            lines += before[name] ?? []
            if let chain = mine?.chain(.builtin(Hook(rawValue: name.lowercased())!)) {
                lines += chain.rules.map { IptablesRenderer.appendLine(chain.name, $0, family: .ipv4, tagged: true) }
            }
            lines += after[name] ?? []
        }
        for chain in (mine?.chains ?? []).sorted(by: { $0.name.description < $1.name.description }) where chain.name.description.hasPrefix("ISTIO") {
            lines += chain.rules.map { IptablesRenderer.appendLine(chain.name, $0, family: .ipv4) }
        }
        lines.append("COMMIT")
        return IptablesSave.parse(lines.joined(separator: "\n"), family: .ipv4).table(table)
    }

    func input(_ live: IptablesSave.Table?, _ desired: Ruleset?, known: Set<IptablesTransition.KnownRule> = []) -> String? {
        IptablesTransition.input(live: live, desired: desired?.table(.nat), family: .ipv4, known: known, resolve: Self.numeric)
    }

    @Test func aFreshTableGetsItsChainsAndATaggedBlockInEachBuiltInChain() throws {
        let wanted = try ruleset(["-i", "10.96.0.0/12", "-b", "8080"])
        let text = try #require(input(nil, wanted))
        #expect(text.hasPrefix("*nat\n:ISTIO_INBOUND - [0:0]\n"))
        #expect(text.contains("\n-A PREROUTING -p tcp -m comment --comment meshcap -j ISTIO_INBOUND\n"))
        #expect(text.contains("\n-A OUTPUT -m comment --comment meshcap -j ISTIO_OUTPUT\n"))
        #expect(text.contains("\n-A ISTIO_OUTPUT -d 10.96.0.0/12 -j ISTIO_REDIRECT\n"))
        #expect(text.hasSuffix("COMMIT\n"))
    }

    @Test func whatIsAlreadyInForceIsNotSentAgain() throws {
        let wanted = try ruleset(["-i", "10.96.0.0/12", "-b", "8080"])
        #expect(input(saved(wanted, table: "nat", before: ["OUTPUT": ["-A OUTPUT -j DOCKER"]], extraChains: ["DOCKER"]), wanted) == nil)
    }

    /// A changed config: meshcap's block is replaced where it stood, between other software's rules.
    @Test func aChangedBlockIsReplacedInPlace() throws {
        let old = try ruleset(["-i", "10.96.0.0/12", "-c", "eth1"])
        let new = try ruleset(["-i", "10.96.0.0/12", "-c", "eth2"])
        let live = saved(old, table: "nat", before: ["OUTPUT": ["-A OUTPUT -j KUBE-SERVICES"]], after: ["OUTPUT": ["-A OUTPUT -j DOCKER"]],
                         extraChains: ["DOCKER", "KUBE-SERVICES"])
        let text = try #require(input(live, new))
        #expect(text.contains("-D OUTPUT -o eth1 -m comment --comment meshcap -j RETURN\n-D OUTPUT -m comment --comment meshcap -j ISTIO_OUTPUT\n"))
        #expect(text.contains("-I OUTPUT 2 -o eth2 -m comment --comment meshcap -j RETURN\n-I OUTPUT 3 -m comment --comment meshcap -j ISTIO_OUTPUT\n"))
        #expect(!text.contains("DOCKER") && !text.contains("KUBE-SERVICES"))
        // ISTIO_OUTPUT did not change: not flushed, not refilled.
        #expect(!text.contains(":ISTIO_OUTPUT"))
    }

    /// What istio-iptables left (no comment): its jumps always count as meshcap's, its other rules
    /// when the config makes them; another tool's RETURN does not.
    @Test func istiosUntaggedRulesAreReplacedAndOthersKept() throws {
        let wanted = try ruleset(["-i", "10.96.0.0/12", "-c", "eth1"])
        let istio = ["-A OUTPUT -o eth1 -j RETURN", "-A OUTPUT -j ISTIO_OUTPUT", "-A OUTPUT -o docker0 -j RETURN"]
        let live = saved(nil, table: "nat", after: ["OUTPUT": istio], extraChains: ["ISTIO_OUTPUT"])
        let known = IptablesTransition.builtinRules(wanted, resolve: Self.numeric)
        let text = try #require(input(live, wanted, known: known))
        #expect(text.contains("-D OUTPUT -o eth1 -j RETURN\n-D OUTPUT -j ISTIO_OUTPUT\n"))
        #expect(!text.contains("docker0"))
        #expect(text.contains("-I OUTPUT 1 -o eth1 -m comment --comment meshcap -j RETURN\n"))
        #expect(try #require(input(live, wanted)).contains("-D OUTPUT -o eth1 -j RETURN") == false)
        // The same rule known for another chain is not taken for meshcap's here.
        let elsewhere = Set(known.map { IptablesTransition.KnownRule(table: $0.table, chain: "PREROUTING", rule: $0.rule) })
        #expect(try #require(input(live, wanted, known: elsewhere)).contains("-D OUTPUT -o eth1 -j RETURN") == false)
    }

    @Test func removalDeletesMeshcapsRulesAndChainsOnly() throws {
        let old = try ruleset(["-i", "10.96.0.0/12", "-b", "8080"])
        let live = saved(old, table: "nat", after: ["PREROUTING": ["-A PREROUTING -j DOCKER"]], extraChains: ["DOCKER"])
        let text = try #require(IptablesTransition.input(live: live, desired: nil, family: .ipv4, known: [], resolve: Self.numeric))
        #expect(text.contains("-D PREROUTING -p tcp -m comment --comment meshcap -j ISTIO_INBOUND\n"))
        for chain in ["ISTIO_INBOUND", "ISTIO_IN_REDIRECT", "ISTIO_OUTPUT", "ISTIO_REDIRECT"] {
            #expect(text.contains(":\(chain) - [0:0]\n") && text.contains("-X \(chain)\n"))
        }
        #expect(!text.contains("DOCKER"))
        #expect(IptablesTransition.input(live: saved(nil, table: "nat"), desired: nil, family: .ipv4, known: [], resolve: Self.numeric) == nil)
    }
}
