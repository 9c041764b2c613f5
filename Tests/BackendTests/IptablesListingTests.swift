@testable import IptablesBackend
import MeshCapture
import Testing

/// `iptables -nvL` lines read alone: what the listing prints of a rule is put back into the words
/// iptables-save has for it.
@Suite struct IptablesListingTests {
    /// What `iptables -L` prints for each match and target meshcap writes goes back into the
    /// rule iptables-save gives for it.
    @Test(arguments: [
        ("0     0 RETURN     6    --  *      lo      ::/0                !::1                  multiport dports  !53,15008 ! owner UID match 1337",
         "-A X ! -d ::1/128 -o lo -p tcp -m multiport ! --dports 53,15008 -m owner ! --uid-owner 1337 -j RETURN"),
        ("0     0 TPROXY     6    --  *      *       ::/0                !::1                  TPROXY redirect :::15006 mark 0x539/0xffffffff",
         "-A X ! -d ::1/128 -p tcp -j TPROXY --on-port 15006 --on-ip :: --tproxy-mark 0x539/0xffffffff"),
        ("0     0 MARK       6    --  *      lo      0.0.0.0/0           !127.0.0.1            owner GID match 1337 MARK set 0x53a",
         "-A X ! -d 127.0.0.1/32 -o lo -p tcp -m owner --gid-owner 1337 -j MARK --set-xmark 0x53a/0xffffffff"),
        ("0     0 CONNMARK   6    --  *      *       0.0.0.0/0            0.0.0.0/0            connmark match  0x539 CONNMARK restore",
         "-A X -p tcp -m connmark --mark 0x539 -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff"),
        ("0     0 RETURN     6    --  lo     *       0.0.0.0/0            0.0.0.0/0            mark match ! 0x53a",
         "-A X -i lo -p tcp -m mark ! --mark 0x53a -j RETURN"),
        ("0     0 ISTIO_DIVERT  6    --  *      *       0.0.0.0/0            0.0.0.0/0            ctstate RELATED,ESTABLISHED",
         "-A X -p tcp -m conntrack --ctstate RELATED,ESTABLISHED -j ISTIO_DIVERT"),
        ("0     0 CT         17   --  *      *       10.96.0.10           0.0.0.0/0            udp spt:53 CT zone 1",
         "-A X -s 10.96.0.10/32 -p udp -m udp --sport 53 -j CT --zone 1"),
        ("0     0 ISTIO_OUTPUT  0    --  *      *       0.0.0.0/0            0.0.0.0/0            /* meshcap */",
         "-A X -m comment --comment meshcap -j ISTIO_OUTPUT"),
        ("0     0            6    --  *      *       0.0.0.0/0            0.0.0.0/0            /* two words */ multiport dports 80,443",
         "-A X -p tcp -m comment --comment \"two words\" -m multiport --dports 80,443"),
        // The negation attached, as some iptables versions print it.
        ("0     0 RETURN     0    --  *      lo      0.0.0.0/0            0.0.0.0/0            !owner UID match 1337",
         "-A X -o lo -m owner ! --uid-owner 1337 -j RETURN"),
        ("0     0 ISTIO_OUTPUT  0    --  *      *       0.0.0.0/0            0.0.0.0/0           [goto]  ADDRTYPE match dst-type LOCAL",
         "-A X ADDRTYPE match dst-type LOCAL -g ISTIO_OUTPUT"),
    ])
    func listingLinesReadAsSaved(_ line: String, _ saved: String) throws {
        let fail: (String) -> DumpError = { DumpError(name: "x", line: 1, problem: $0, allowed: "") }
        let listed = try IptablesListing.rule(Substring(line), chain: "X", numbered: false, fail)
        #expect(listed.saved.text == saved)
        let family: Family = line.contains("::") ? .ipv6 : .ipv4
        let parsed = IptablesSave.parse("*t\n:X - [0:0]\n\(saved)\nCOMMIT\n", family: family).tables.first?.chains.first?.rules.first
        #expect(listed.saved.rule == parsed?.rule && listed.saved.tagged == parsed?.tagged)
    }
}
