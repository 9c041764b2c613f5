import CNftnl

// Swift owners of libnftnl objects. Each class frees its C object exactly once in deinit; no C
// pointer leaves this file except inside a closure that runs while its owner is alive.

/// An expression being built into, or read from, a rule. It does not own the C object: the rule
/// does, and the view only lives inside `NftnlRule`'s closures.
struct NftnlExpr {
    fileprivate let pointer: OpaquePointer

    func set(_ attribute: Int, _ value: UInt16) { nftnl_expr_set_u16(pointer, UInt16(attribute), value) }
    func set(_ attribute: Int, _ value: UInt32) { nftnl_expr_set_u32(pointer, UInt16(attribute), value) }
    func set(_ attribute: Int, _ value: UInt64) { nftnl_expr_set_u64(pointer, UInt16(attribute), value) }
    func set(_ attribute: Int, _ value: String) { nftnl_expr_set_str(pointer, UInt16(attribute), value) }
    func set(_ attribute: Int, bytes: [UInt8]) {
        bytes.withUnsafeBytes { _ = nftnl_expr_set(pointer, UInt16(attribute), $0.baseAddress, UInt32($0.count)) }
    }

    func has(_ attribute: Int) -> Bool { nftnl_expr_is_set(pointer, UInt16(attribute)) }
    func u16(_ attribute: Int) -> UInt16 { nftnl_expr_get_u16(pointer, UInt16(attribute)) }
    func u32(_ attribute: Int) -> UInt32 { nftnl_expr_get_u32(pointer, UInt16(attribute)) }
    func u64(_ attribute: Int) -> UInt64 { nftnl_expr_get_u64(pointer, UInt16(attribute)) }
    func string(_ attribute: Int) -> String? { nftnl_expr_get_str(pointer, UInt16(attribute)).map { String(cString: $0) } }
    func bytes(_ attribute: Int) -> [UInt8] {
        var length: UInt32 = 0
        guard let data = nftnl_expr_get(pointer, UInt16(attribute), &length) else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: Int(length)))
    }
    var name: String { string(Int(NFTNL_EXPR_NAME)) ?? "" }
}

private func allocated(_ pointer: OpaquePointer?, _ what: String) -> OpaquePointer {
    guard let pointer else { fatalError("libnftnl could not allocate a \(what): out of memory") }
    return pointer
}

/// Text libnftnl prints for an object, the format of `nft --debug=netlink`.
private func printed(_ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 64 * 1024)
    let count = buffer.withUnsafeMutableBufferPointer { storage in
        storage.baseAddress.map { body($0, storage.count) } ?? 0
    }
    guard count > 0 else { return "" }
    return String(decoding: buffer.prefix(min(Int(count), buffer.count - 1)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

public final class NftnlTable {
    let pointer: OpaquePointer

    init(family: UInt32, name: String) {
        pointer = allocated(nftnl_table_alloc(), "table")
        nftnl_table_set_u32(pointer, UInt16(NFTNL_TABLE_FAMILY.rawValue), family)
        nftnl_table_set_str(pointer, UInt16(NFTNL_TABLE_NAME.rawValue), name)
    }

    /// A table decoded from a NEWTABLE message of a dump; nil if the message does not parse.
    public init?(parsing message: UnsafePointer<nlmsghdr>) {
        pointer = allocated(nftnl_table_alloc(), "table")
        guard nftnl_table_nlmsg_parse(message, pointer) >= 0 else {
            nftnl_table_free(pointer)
            return nil
        }
    }

    deinit { nftnl_table_free(pointer) }

    public var family: UInt32 { nftnl_table_get_u32(pointer, UInt16(NFTNL_TABLE_FAMILY.rawValue)) }
    public var name: String { nftnl_table_get_str(pointer, UInt16(NFTNL_TABLE_NAME.rawValue)).map { String(cString: $0) } ?? "" }
    /// How many objects the table holds: chains, sets, stateful objects and flowtables alike.
    public var use: UInt32 { nftnl_table_get_u32(pointer, UInt16(NFTNL_TABLE_USE.rawValue)) }

    func build(into message: UnsafeMutablePointer<nlmsghdr>) { nftnl_table_nlmsg_build_payload(message, pointer) }
}

public final class NftnlChain {
    let pointer: OpaquePointer

    init(family: UInt32, table: String, name: String) {
        pointer = allocated(nftnl_chain_alloc(), "chain")
        nftnl_chain_set_u32(pointer, UInt16(NFTNL_CHAIN_FAMILY.rawValue), family)
        nftnl_chain_set_str(pointer, UInt16(NFTNL_CHAIN_TABLE.rawValue), table)
        nftnl_chain_set_str(pointer, UInt16(NFTNL_CHAIN_NAME.rawValue), name)
    }

    /// A chain decoded from a NEWCHAIN message of a dump; nil if the message does not parse.
    public init?(parsing message: UnsafePointer<nlmsghdr>) {
        pointer = allocated(nftnl_chain_alloc(), "chain")
        guard nftnl_chain_nlmsg_parse(message, pointer) >= 0 else {
            nftnl_chain_free(pointer)
            return nil
        }
    }

    deinit { nftnl_chain_free(pointer) }

    private func string(_ attribute: nftnl_chain_attr) -> String? {
        nftnl_chain_is_set(pointer, UInt16(attribute.rawValue)) ? nftnl_chain_get_str(pointer, UInt16(attribute.rawValue)).map { String(cString: $0) } : nil
    }

    public var family: UInt32 { nftnl_chain_get_u32(pointer, UInt16(NFTNL_CHAIN_FAMILY.rawValue)) }
    public var table: String { string(NFTNL_CHAIN_TABLE) ?? "" }
    public var name: String { string(NFTNL_CHAIN_NAME) ?? "" }
    /// The chain's type (`nat`, `filter`, `route`); nil for a regular chain.
    public var type: String? { string(NFTNL_CHAIN_TYPE) }
    /// Hook number and priority of a base chain; nil for a regular chain.
    public var hook: (number: UInt32, priority: Int32)? {
        guard nftnl_chain_is_set(pointer, UInt16(NFTNL_CHAIN_HOOKNUM.rawValue)) else { return nil }
        return (nftnl_chain_get_u32(pointer, UInt16(NFTNL_CHAIN_HOOKNUM.rawValue)), nftnl_chain_get_s32(pointer, UInt16(NFTNL_CHAIN_PRIO.rawValue)))
    }
    public var policy: UInt32? {
        nftnl_chain_is_set(pointer, UInt16(NFTNL_CHAIN_POLICY.rawValue)) ? nftnl_chain_get_u32(pointer, UInt16(NFTNL_CHAIN_POLICY.rawValue)) : nil
    }

    /// Makes this a base chain at `hook` with policy accept.
    func attach(type: String, hook: UInt32, priority: Int32) {
        nftnl_chain_set_str(pointer, UInt16(NFTNL_CHAIN_TYPE.rawValue), type)
        nftnl_chain_set_u32(pointer, UInt16(NFTNL_CHAIN_HOOKNUM.rawValue), hook)
        nftnl_chain_set_s32(pointer, UInt16(NFTNL_CHAIN_PRIO.rawValue), priority)
        nftnl_chain_set_u32(pointer, UInt16(NFTNL_CHAIN_POLICY.rawValue), UInt32(NF_ACCEPT))
    }

    func build(into message: UnsafeMutablePointer<nlmsghdr>) { nftnl_chain_nlmsg_build_payload(message, pointer) }
}

public final class NftnlRule {
    let pointer: OpaquePointer

    init(family: UInt32, table: String, chain: String) {
        pointer = allocated(nftnl_rule_alloc(), "rule")
        nftnl_rule_set_u32(pointer, UInt16(NFTNL_RULE_FAMILY.rawValue), family)
        nftnl_rule_set_str(pointer, UInt16(NFTNL_RULE_TABLE.rawValue), table)
        nftnl_rule_set_str(pointer, UInt16(NFTNL_RULE_CHAIN.rawValue), chain)
    }

    /// A rule decoded from a NEWRULE message of a dump; nil if the message does not parse.
    public init?(parsing message: UnsafePointer<nlmsghdr>) {
        pointer = allocated(nftnl_rule_alloc(), "rule")
        guard nftnl_rule_nlmsg_parse(message, pointer) >= 0 else {
            nftnl_rule_free(pointer)
            return nil
        }
    }

    deinit { nftnl_rule_free(pointer) }

    /// Adds an expression named `name`; the rule takes ownership of it.
    func append(_ name: String, _ configure: (NftnlExpr) -> Void) {
        let expression = allocated(nftnl_expr_alloc(name), "\(name) expression")
        configure(NftnlExpr(pointer: expression))
        nftnl_rule_add_expr(pointer, expression)
    }

    func forEachExpression(_ body: (NftnlExpr) -> Void) {
        guard let iterator = nftnl_expr_iter_create(pointer) else { return }
        defer { nftnl_expr_iter_destroy(iterator) }
        while let expression = nftnl_expr_iter_next(iterator) { body(NftnlExpr(pointer: expression)) }
    }

    /// The rule's expressions in the model of this module; nil if one is of a kind (or a form)
    /// meshcap never writes, which makes the rule somebody else's.
    public var expressions: [NftExpression]? {
        var expressions: [NftExpression] = []
        var complete = true
        forEachExpression { expression in
            if let decoded = NftExpression(decoding: expression) { expressions.append(decoded) } else { complete = false }
        }
        return complete ? expressions : nil
    }

    /// The packets and bytes of the rule's first counter, whoever wrote the rule.
    public var counter: Counter? {
        var found: Counter?
        forEachExpression { expression in
            if found == nil, expression.name == Counter.name { found = Counter(decoding: expression) }
        }
        return found
    }

    public var table: String { nftnl_rule_get_str(pointer, UInt16(NFTNL_RULE_TABLE.rawValue)).map { String(cString: $0) } ?? "" }
    public var chain: String { nftnl_rule_get_str(pointer, UInt16(NFTNL_RULE_CHAIN.rawValue)).map { String(cString: $0) } ?? "" }
    public var handle: UInt64 { nftnl_rule_get_u64(pointer, UInt16(NFTNL_RULE_HANDLE.rawValue)) }

    /// The expression lines as `nft --debug=netlink` prints them.
    public var text: String { printed { nftnl_rule_snprintf($0, $1, pointer, UInt32(NFTNL_OUTPUT_DEFAULT.rawValue), 0) } }

    func build(into message: UnsafeMutablePointer<nlmsghdr>) { nftnl_rule_nlmsg_build_payload(message, pointer) }
}

final class NftnlSet {
    let pointer: OpaquePointer

    init(family: UInt32, table: String, name: String, id: UInt32) {
        pointer = allocated(nftnl_set_alloc(), "set")
        nftnl_set_set_u32(pointer, UInt16(NFTNL_SET_FAMILY.rawValue), family)
        nftnl_set_set_str(pointer, UInt16(NFTNL_SET_TABLE.rawValue), table)
        nftnl_set_set_str(pointer, UInt16(NFTNL_SET_NAME.rawValue), name)
        nftnl_set_set_u32(pointer, UInt16(NFTNL_SET_ID.rawValue), id)
    }

    deinit { nftnl_set_free(pointer) }

    func set(_ attribute: nftnl_set_attr, _ value: UInt32) { nftnl_set_set_u32(pointer, UInt16(attribute.rawValue), value) }
    func set(_ attribute: nftnl_set_attr, bytes: [UInt8]) {
        bytes.withUnsafeBytes { _ = nftnl_set_set_data(pointer, UInt16(attribute.rawValue), $0.baseAddress, UInt32($0.count)) }
    }

    /// - Parameter counter: the element's own counter and where it starts (nil: the set's
    ///   counter expression, from zero).
    func addElement(key: [UInt8], intervalEnd: Bool = false, counter: Counter? = nil) {
        let element = allocated(nftnl_set_elem_alloc(), "set element")
        key.withUnsafeBytes { _ = nftnl_set_elem_set(element, UInt16(NFTNL_SET_ELEM_KEY), $0.baseAddress, UInt32($0.count)) }
        if intervalEnd { nftnl_set_elem_set_u32(element, UInt16(NFTNL_SET_ELEM_FLAGS), NFT_SET_ELEM_INTERVAL_END.rawValue) }
        if let counter {
            let expression = allocated(nftnl_expr_alloc("counter"), "counter")
            nftnl_expr_set_u64(expression, UInt16(NFTNL_EXPR_CTR_PACKETS), counter.packets)
            nftnl_expr_set_u64(expression, UInt16(NFTNL_EXPR_CTR_BYTES), counter.bytes)
            // The element owns and frees it.
            nftnl_set_elem_set(element, UInt16(NFTNL_SET_ELEM_EXPR), UnsafeRawPointer(expression), 0)
        }
        nftnl_set_elem_add(pointer, element)
    }

    /// A counter for the set's elements (NFTA_SET_EXPR); the set owns and frees it.
    func addCounterExpression() {
        let counter = allocated(nftnl_expr_alloc("counter"), "counter")
        nftnl_set_set_data(pointer, UInt16(NFTNL_SET_EXPR.rawValue), UnsafeRawPointer(counter), 0)
    }

    func build(into message: UnsafeMutablePointer<nlmsghdr>) { nftnl_set_nlmsg_build_payload(message, pointer) }
    func buildElements(into message: UnsafeMutablePointer<nlmsghdr>) { nftnl_set_elems_nlmsg_build_payload(message, pointer) }
}

/// A rule dump request narrowed to one chain.
public final class NftnlRuleFilter {
    private let pointer: OpaquePointer

    /// A dump of one table's rules, or of one chain's.
    public init(family: UInt32, table: String, chain: String? = nil) {
        pointer = allocated(nftnl_rule_alloc(), "rule")
        nftnl_rule_set_u32(pointer, UInt16(NFTNL_RULE_FAMILY.rawValue), family)
        nftnl_rule_set_str(pointer, UInt16(NFTNL_RULE_TABLE.rawValue), table)
        if let chain { nftnl_rule_set_str(pointer, UInt16(NFTNL_RULE_CHAIN.rawValue), chain) }
    }

    deinit { nftnl_rule_free(pointer) }

    public func build(_ message: UnsafeMutablePointer<nlmsghdr>) { nftnl_rule_nlmsg_build_payload(message, pointer) }
}

/// A request for one set's elements (`DumpedSetElement` reads the replies).
public final class NftnlSetQuery {
    private let pointer: OpaquePointer

    public init(table: String, name: String) {
        pointer = allocated(nftnl_set_alloc(), "set")
        nftnl_set_set_u32(pointer, UInt16(NFTNL_SET_FAMILY.rawValue), UInt32(NFPROTO_INET))
        nftnl_set_set_str(pointer, UInt16(NFTNL_SET_TABLE.rawValue), table)
        nftnl_set_set_str(pointer, UInt16(NFTNL_SET_NAME.rawValue), name)
    }

    deinit { nftnl_set_free(pointer) }

    public func build(_ message: UnsafeMutablePointer<nlmsghdr>) { nftnl_set_elems_nlmsg_build_payload(message, pointer) }
}

/// The ruleset generation a GETGEN reply names: it changes with every committed transaction.
public enum NftnlGeneration {
    public static func parse(_ message: UnsafePointer<nlmsghdr>) -> UInt32? {
        guard let generation = nftnl_gen_alloc() else { return nil }
        defer { nftnl_gen_free(generation) }
        guard nftnl_gen_nlmsg_parse(message, generation) >= 0 else { return nil }
        return nftnl_gen_get_u32(generation, UInt16(NFTNL_GEN_ID))
    }
}
