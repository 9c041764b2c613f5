/// Result builders so the capture plan reads like the chains it declares:
///
///     table(.nat) {
///         chain(.output) {
///             for interface in excluded { Rule(.outInterface(interface), then: .return) }
///             Rule(then: .jump(.istioOutput))
///         }
///     }
@resultBuilder
public enum ChainBuilder {
    public static func buildExpression(_ rule: Rule) -> [ChainEntry] { [ChainEntry(rule: rule, placement: .append)] }
    public static func buildExpression(_ entry: ChainEntry) -> [ChainEntry] { [entry] }
    public static func buildExpression(_ entries: [ChainEntry]) -> [ChainEntry] { entries }
    public static func buildBlock(_ parts: [ChainEntry]...) -> [ChainEntry] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [ChainEntry]?) -> [ChainEntry] { part ?? [] }
    public static func buildEither(first part: [ChainEntry]) -> [ChainEntry] { part }
    public static func buildEither(second part: [ChainEntry]) -> [ChainEntry] { part }
    public static func buildArray(_ parts: [[ChainEntry]]) -> [ChainEntry] { parts.flatMap { $0 } }
}

@resultBuilder
public enum TableBuilder {
    public static func buildExpression(_ chain: ChainDeclaration) -> [ChainDeclaration] { [chain] }
    public static func buildBlock(_ parts: [ChainDeclaration]...) -> [ChainDeclaration] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [ChainDeclaration]?) -> [ChainDeclaration] { part ?? [] }
}

@resultBuilder
public enum RulesetBuilder {
    public static func buildExpression(_ table: TableDeclaration) -> [TableDeclaration] { [table] }
    public static func buildBlock(_ parts: [TableDeclaration]...) -> [TableDeclaration] { parts.flatMap { $0 } }
}
