import Features

/// Entries bucketed by option layout, by the order of the significant options (NOP and EOL
/// dropped), and by the set of option kinds, so a packet is compared with its own kind only.
struct LayoutIndex {
    private var byLayout: [OptionLayout: [Int]] = [:]
    private var byOrder: [OptionLayout: [Int]] = [:]
    private var byKindSet: [UInt64: [Int]] = [:]
    private var anyLayout: [Int] = []

    mutating func add(_ entry: Int, _ layout: Rule<OptionLayout>) {
        switch layout {
        case .any:
            anyLayout.append(entry)
        case .exactly(let l):
            byLayout[l, default: []].append(entry)
            byOrder[LayoutIndex.order(l), default: []].append(entry)
            byKindSet[LayoutIndex.kindSet(l), default: []].append(entry)
        }
    }

    func candidates(for layout: OptionLayout) -> [Int] {
        let bucket = byLayout[layout] ?? byOrder[LayoutIndex.order(layout)] ?? byKindSet[LayoutIndex.kindSet(layout)] ?? []
        return anyLayout.isEmpty ? bucket : bucket + anyLayout
    }

    static func order(_ layout: OptionLayout) -> OptionLayout {
        OptionLayout(layout.lazy.filter { $0 > 1 })
    }

    static func kindSet(_ layout: OptionLayout) -> UInt64 {
        layout.reduce(0) { $0 | (1 << UInt64(min($1, 63))) }
    }
}
