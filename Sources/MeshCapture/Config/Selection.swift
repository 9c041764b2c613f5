/// A list setting that may also be `*` (everything) or empty (nothing).
public enum Selection<Element: Sendable & Hashable>: Sendable, Hashable {
    case none
    case all
    case only([Element])

    public var isNone: Bool { self == .none }

    public var listed: [Element] {
        if case .only(let items) = self { items } else { [] }
    }
}
