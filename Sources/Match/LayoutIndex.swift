import Features

/// Entries bucketed by option layout, by the order of the significant options (NOP and EOL
/// dropped), and by the set of option kinds, so a packet is compared with its own kind only.
/// An entry is filed under each layout it lists.
struct LayoutIndex {
    private var byLayout: [OptionLayout: [Int]] = [:]
    private var byOrder: [OptionLayout: [Int]] = [:]
    private var byKindSet: [UInt64: [Int]] = [:]
    private var anyLayout: [Int] = []

    mutating func add(_ entry: Int, _ layouts: Choices<LayoutPattern>) {
        guard !layouts.isAny else { return anyLayout.append(entry) }
        for pattern in layouts.values {
            LayoutIndex.file(entry, under: pattern.layout, in: &byLayout)
            LayoutIndex.file(entry, under: LayoutIndex.order(pattern.layout), in: &byOrder)
            LayoutIndex.file(entry, under: LayoutIndex.kindSet(pattern.layout), in: &byKindSet)
        }
    }

    /// Entries are added in order, so a repeat is always the bucket's last element.
    private static func file<Key: Hashable>(_ entry: Int, under key: Key, in buckets: inout [Key: [Int]]) {
        if buckets[key]?.last != entry { buckets[key, default: []].append(entry) }
    }

    func candidates(for layout: OptionLayout) -> [Int] {
        let bucket = byLayout[layout] ?? byOrder[LayoutIndex.order(layout)] ?? byKindSet[LayoutIndex.kindSet(layout)] ?? []
        return anyLayout.isEmpty ? bucket : bucket + anyLayout
    }

    static func order(_ layout: OptionLayout) -> OptionLayout {
        OptionLayout(layout.lazy.filter { $0 > OptionKind.nop })
    }

    static func kindSet(_ layout: OptionLayout) -> UInt64 {
        layout.reduce(0) { $0 | (1 << UInt64(min($1, 63))) }
    }
}
