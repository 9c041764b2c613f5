import CNftnl
import Glibc
import MeshCapture
import NftablesBackend

/// iptables-nft makes an nf_tables table (`ip mangle`, with its base chains) the first time a rule
/// goes into it, and never removes it: after meshcap's rules are gone, each of those base chains
/// still sits on a hook that every packet traverses. meshcap records the tables its applies made
/// (`Journal.made`) and deletes them once they hold nothing, over netlink (iptables has no command
/// for it), in one batch bound to the generation the check read, so that a rule another program
/// adds in between makes the kernel refuse the deletion instead of losing the rule.
enum MadeTables {
    /// The recorded tables that are gone now (deleted here, or by somebody else); a table that
    /// holds anything of anyone's (a rule, a regular chain, a set, a policy other than accept)
    /// stays, and stays recorded.
    static func deleteEmpty(_ tables: [MadeTable]) throws -> [MadeTable] {
        guard !tables.isEmpty else { return [] }
        let socket = try NetlinkConnection.socket()
        guard let generation = try RuleDump.generation(socket),
              let tableMessages = try RuleDump.dump(socket, type: NFT_MSG_GETTABLE, family: Int32(NFPROTO_UNSPEC)),
              let chainMessages = try RuleDump.dump(socket, type: NFT_MSG_GETCHAIN, family: Int32(NFPROTO_UNSPEC)) else {
            // A change interrupted the reading: the next run tries again.
            return []
        }
        let live = tableMessages.compactMap { RuleDump.withMessage($0) { NftnlTable(parsing: $0) } ?? nil }
        let chains = chainMessages.compactMap { RuleDump.withMessage($0) { NftnlChain(parsing: $0) } ?? nil }.map(RuleDump.dumpedChain)
        var gone: [MadeTable] = [], empty: [MadeTable] = []
        for made in tables {
            guard let table = live.first(where: { $0.family == made.family.nfproto && $0.name == made.name }) else {
                gone.append(made)
                continue
            }
            let own = chains.filter { $0.family == made.family.nfproto && $0.table == made.name }
            // `use` counts every object in the table: equal to its base chains, it holds no set,
            // no stateful object, no flowtable and no regular chain.
            guard table.use == own.count, own.allSatisfy({ $0.hook != nil && $0.policy == UInt32(NF_ACCEPT) }),
                  try own.allSatisfy({ try RuleDump.ruleCount($0) == 0 }) else { continue }
            empty.append(made)
        }
        guard !empty.isEmpty else { return gone }
        do {
            try NftApply.apply(NetlinkBatch(operations: empty.map { .deleteIptablesTable($0.family, $0.name) }), generation: generation)
        } catch let refused as BatchRefused where refused.generationChanged {
            return gone
        }
        return gone + empty
    }
}
