import Foundation
import IptablesBackend
import MeshCapture
import NftablesBackend
import Testing
import TestSupport

/// verify recognises rules as they are read back (each backend's canonical form: implied
/// protocols dropped, /0 prefixes gone, owners as numbers), not as the plan declares them: the
/// purpose recognised from the read-back chain is the plan's, for every profile and corpus case.
@Suite struct RecognitionTests {
    static func mismatches(_ config: InterceptConfig, resolve: OwnerResolver) -> [String] {
        var found: [String] = []
        for layout in [Layout.inet] + config.families.sorted().map(Layout.xtables) {
            for table in CapturePlan(config).ruleset(for: layout).tables {
                for chain in table.chains {
                    let readBack = chain.rules.map { layout == .inet ? RuleDecoder.canonical($0, resolve: resolve) : IptablesRenderer.canonical($0, resolve: resolve) }
                    let recognisedRules = Purpose.recognised(table: table.kind, chain: chain.name, rules: readBack)
                    for (index, rule) in chain.rules.enumerated() {
                        let recognised = recognisedRules[index]
                        // Read back, owners are numbers: the plan's names resolve to them.
                        if recognised != rule.purpose.map({ Self.numbered($0, resolve) }) {
                            found.append("\(layout) \(table.kind) \(chain.name) #\(index) \(readBack[index]): planned \(rule.purpose.map { "\($0)" } ?? "nothing"), recognised \(recognised.map { "\($0)" } ?? "nothing")")
                        }
                    }
                }
            }
        }
        return found
    }

    static func numbered(_ purpose: Purpose, _ resolve: OwnerResolver) -> Purpose {
        func number(_ owner: Owner, _ group: Bool) -> Owner {
            if case .name(let name) = owner, let id = resolve(name, group) { .id(id) } else { owner }
        }
        switch purpose {
        case .proxy(let owner, let group, let action): return .proxy(number(owner, group), group: group, action)
        case .ownerGroup(let group): return .ownerGroup(number(group, true))
        case .otherGroups(let groups): return .otherGroups(groups.map { number($0, true) })
        default: return purpose
        }
    }

    @Test func profiles() throws {
        let directory = packageRoot.appendingPathComponent("Rules")
        let accounts = try AccountDatabase(passwdPath: directory.appendingPathComponent("vm-host/passwd").path,
                                           groupPath: directory.appendingPathComponent("vm-host/group").path)
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path).filter({ $0.hasSuffix(".env") }).sorted() {
            let config = try ConfigLoader.load(files: [directory.appendingPathComponent(name).path], flags: [], accounts: accounts, resolvConf: "/dev/null").config
            let wrong = Self.mismatches(config) { accounts.id(of: $0, isGroup: $1) }
            #expect(wrong.isEmpty, "\(name):\n\(wrong.joined(separator: "\n"))")
        }
    }

    @Test(.needsCorpus) func istiosCases() throws {
        let cases = Prerequisites.corpus.appendingPathComponent("cases")
        let accounts = try AccountDatabase(groupPath: Prerequisites.corpus.appendingPathComponent("canon.group").path)
        for name in try FileManager.default.contentsOfDirectory(atPath: cases.path).filter({ $0.hasSuffix(".env") }).sorted() {
            let config = try ConfigLoader.load(files: [cases.appendingPathComponent(name).path], flags: [], accounts: accounts).config
            let wrong = Self.mismatches(config) { accounts.id(of: $0, isGroup: $1) }
            #expect(wrong.isEmpty, "\(name):\n\(wrong.joined(separator: "\n"))")
        }
    }
}

/// Istio's nft rules without a counter statement read as the rule they are.
@Suite struct UncountedStatementTests {
    @Test func aRuleWithoutItsCounterIsStillTheRule() {
        let rule = Rule(.l4proto(.tcp), then: .redirect(toPort: 15001))
        let statements = NftStatement.of(rule)
        #expect(NftStatement.rule(statements) == rule)
        #expect(NftStatement.rule(statements.filter { $0 != .counter }) == rule)
        // A counter elsewhere than where meshcap puts it is not meshcap's rule.
        #expect(NftStatement.rule([.counter] + statements.filter { $0 != .counter }) == nil)
    }
}

/// Layouts of Istio versions meshcap does not write, recognised by what their rules do.
@Suite struct OlderLayoutTests {
    /// Istio 1.8 to 1.24 captured DNS inside nat ISTIO_OUTPUT, after the proxy's own DNS queries
    /// were let by (ISTIO_OUTPUT_DNS came in 1.25); read as iptables-save writes it.
    @Test func dnsCaptureInsideISTIO_OUTPUT() throws {
        let save = """
            *nat
            :ISTIO_OUTPUT - [0:0]
            -A ISTIO_OUTPUT -d 10.96.0.10/32 -p tcp -m tcp --dport 53 -j REDIRECT --to-ports 15053
            -A ISTIO_OUTPUT -j ISTIO_REDIRECT
            -A ISTIO_OUTPUT -p udp -m udp --dport 53 -m owner --uid-owner 1337 -j RETURN
            -A ISTIO_OUTPUT -p udp -m udp --dport 53 -m owner --gid-owner 1337 -j RETURN
            -A ISTIO_OUTPUT -d 10.96.0.10/32 -p udp -m udp --dport 53 -j REDIRECT --to-ports 15053
            COMMIT

            """
        let rules = try #require(IptablesSave.parse(save, family: .ipv4).table("nat")?.chain("ISTIO_OUTPUT")?.rules).compactMap { $0.rule }
        #expect(rules.count == 5)
        let server = try #require(IPAddress("10.96.0.10"))
        #expect(Purpose.recognised(table: .nat, chain: .istioOutput, rules: rules) == [
            .dns(server, .tcp), .outboundOtherRanges, .proxy(.id(1337), group: false, .bypass), .proxy(.id(1337), group: true, .bypass), .dns(server, .udp),
        ])
    }

    /// Istio 0.2 labelled each rule `istio/...` and sent all inbound TCP through ISTIO_REDIRECT
    /// to the one proxy port: the labels read as nothing, the jump as the inbound entry. Another
    /// program's label still makes a rule that program's.
    @Test func istio02sLabelledRules() throws {
        let save = """
            *nat
            :PREROUTING ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :ISTIO_OUTPUT - [0:0]
            :ISTIO_REDIRECT - [0:0]
            -A PREROUTING -m comment --comment istio/install-istio-prerouting -j ISTIO_REDIRECT
            -A OUTPUT -p tcp -m comment --comment istio/install-istio-output -j ISTIO_OUTPUT
            -A OUTPUT -m comment --comment kube-proxy -j RETURN
            -A ISTIO_OUTPUT -m owner --uid-owner 1337 -m comment --comment istio/bypass-envoy -j RETURN
            -A ISTIO_REDIRECT -p tcp -m comment --comment istio/redirect-to-envoy-port -j REDIRECT --to-ports 15001
            COMMIT

            """
        let nat = try #require(IptablesSave.parse(save, family: .ipv4).table("nat"))
        let prerouting = try #require(nat.chain("PREROUTING")?.rules.compactMap { $0.rule })
        #expect(Purpose.recognised(table: .nat, chain: .prerouting, rules: prerouting) == [.entry(.inbound)])
        #expect(nat.chain("OUTPUT")?.rules.map { $0.rule != nil } == [true, false], "kube-proxy's labelled rule was read as meshcap's or Istio's")
        let output = try #require(nat.chain("ISTIO_OUTPUT")?.rules.compactMap { $0.rule })
        #expect(Purpose.recognised(table: .nat, chain: .istioOutput, rules: output) == [.proxy(.id(1337), group: false, .bypass)])
        #expect(nat.chain("ISTIO_REDIRECT")?.rules.first?.rule == Rule(.l4proto(.tcp), then: .redirect(toPort: 15001)))
    }

    /// Istio's rules in built-in chains, untagged, that only Istio writes: its DNS capture in nat
    /// OUTPUT (1.9 to 1.22), its conntrack zones in raw (1.11 to 1.24), TPROXY's mark plumbing
    /// in mangle. Read as Istio's (and so taken over by apply and clean); look-alikes stay
    /// another's: a DNS redirect to another port (a local resolver's), the proxy-user returns
    /// without Istio's redirect beside them (Istio 1.8's DNAT era), zones on other ports or
    /// numbers, other marks.
    @Test func istiosOwnRulesInBuiltinChains() throws {
        let save = """
            *raw
            :PREROUTING ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A PREROUTING -s 10.96.0.10/32 -p udp -m udp --sport 53 -j CT --zone 1
            -A OUTPUT -p udp -m udp --sport 15053 -m owner --uid-owner 1337 -j CT --zone 2
            -A OUTPUT -j CT --zone 7
            -A OUTPUT -p udp -m udp --sport 4789 -j CT --zone 2
            -A OUTPUT -p udp -m udp --dport 53 -j CT --zone 9
            COMMIT
            *nat
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            -A OUTPUT -p udp -m udp --dport 53 -m owner --uid-owner 1337 -j RETURN
            -A OUTPUT -d 10.96.0.10/32 -p udp -m udp --dport 53 -j REDIRECT --to-ports 15053
            -A OUTPUT -p udp -m udp --dport 5353 -j REDIRECT --to-ports 15053
            -A OUTPUT -p udp -m udp --dport 53 -j REDIRECT --to-ports 5353
            -A OUTPUT -o eth1 -j RETURN
            -A POSTROUTING -p udp -m udp --dport 53 -m owner --uid-owner 1337 -j RETURN
            COMMIT
            *mangle
            :PREROUTING ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A PREROUTING -p tcp -m mark --mark 0x539 -j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff
            -A PREROUTING -p tcp -m mark --mark 0x4000 -j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff
            -A OUTPUT -o lo -p tcp -m mark --mark 0x539 -j RETURN
            -A OUTPUT -o lo -p tcp -m mark ! --mark 0x539 -j RETURN
            -A OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m owner --uid-owner 1337 -j MARK --set-xmark 0x53a/0xffffffff
            -A OUTPUT -p tcp -m connmark --mark 0x539 -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff
            COMMIT

            """
        // A local resolver's redirect of DNS, with its own user let by: nobody's capture of Istio's.
        let resolver = """
            *nat
            :OUTPUT ACCEPT [0:0]
            -A OUTPUT -p udp -m udp --dport 53 -m owner --uid-owner 107 -j RETURN
            -A OUTPUT -p udp -m udp --dport 53 -j REDIRECT --to-ports 5353
            COMMIT

            """
        func owned(_ text: String) -> [String: [Bool]] {
            var found: [String: [Bool]] = [:]
            for table in IptablesSave.parse(text, family: .ipv4).tables {
                for chain in table.chains {
                    let istio = IptablesTransition.istios(in: chain.rules, table: table.name, chain: chain.name)
                    found["\(table.name) \(chain.name)"] = chain.rules.map {
                        IptablesTransition.isOwned($0, table: table.name, chain: chain.name, known: [], istio: istio)
                    }
                }
            }
            return found
        }
        let istios = owned(save)
        #expect(istios == ["raw PREROUTING": [true], "raw OUTPUT": [true, false, false, false],
                           "nat OUTPUT": [true, true, false, false, false], "nat POSTROUTING": [false],
                           "mangle PREROUTING": [true, false], "mangle OUTPUT": [true, false, true, true]], "\(istios)")
        #expect(owned(resolver) == ["nat OUTPUT": [false, false]])
        let output = try #require(IptablesSave.parse(save, family: .ipv4).table("nat")?.chain("OUTPUT")?.rules.compactMap { $0.rule })
        let server = try #require(IPAddress("10.96.0.10"))
        #expect(Array(Purpose.recognised(table: .nat, chain: .output, rules: output).prefix(2)) == [.proxy(.id(1337), group: false, .bypass), .dns(server, .udp)])
    }

    /// Before 1.7 Istio had no tunnel: its first inbound return was ssh's, an exclusion. Before
    /// 1.5 it let the proxy's UID and GID by with a plain return each, and sent anyone's calls
    /// over lo to the pod's own address inbound (1.3, 1.4) or to its one port (before 1.3);
    /// before 1.23 an include list ended with a bare return.
    @Test func olderIstiosInboundAndOwnerRules() throws {
        let save = """
            *nat
            :ISTIO_INBOUND - [0:0]
            :ISTIO_OUTPUT - [0:0]
            -A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN
            -A ISTIO_INBOUND -p tcp -m tcp --dport 15020 -j RETURN
            -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ISTIO_IN_REDIRECT
            -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ISTIO_REDIRECT
            -A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
            -A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
            -A ISTIO_OUTPUT -m owner --gid-owner 2000 -j RETURN
            -A ISTIO_OUTPUT -d 10.96.0.0/12 -j ISTIO_REDIRECT
            -A ISTIO_OUTPUT -j RETURN
            COMMIT

            """
        let nat = try #require(IptablesSave.parse(save, family: .ipv4).table("nat"))
        let inbound = try #require(nat.chain("ISTIO_INBOUND")?.rules.compactMap { $0.rule })
        #expect(Purpose.recognised(table: .nat, chain: .istioInbound, rules: inbound) == [.inboundPort(22, .exclude), .inboundPort(15020, .exclude)])
        let output = try #require(nat.chain("ISTIO_OUTPUT")?.rules.compactMap { $0.rule })
        #expect(Purpose.recognised(table: .nat, chain: .istioOutput, rules: output) == [
            .host(nil, .capture), .host(nil, .capture), .proxy(.id(1337), group: false, .bypass), .proxy(.id(1337), group: true, .bypass),
            .ownerGroup(.id(2000)), .outboundRange(try Prefix.parse("10.96.0.0/12"), .capture), .outboundOtherRangesLeft,
        ])
    }
}
