import Match

/// `db merge`: entries are the same when they match the same packets (`EntryWriter.constraints`),
/// whatever their ids.
public enum DatabaseMerge {
    public enum Preference: String, CaseIterable, Sendable {
        case curated, learned
    }

    /// Entries matching the same packets become one: counts add up, first/last seen widen, and
    /// the label comes from a curated (or imported) entry unless `prefer` is `learned`, when the
    /// summed counts decide. Ids stay unique; links are kept once per MTU.
    public static func merge(_ databases: [Database], prefer: Preference) -> Database {
        var order: [String] = []
        var groups: [String: [DatabaseEntry]] = [:]
        for entry in databases.flatMap(\.entries) {
            let key = EntryWriter.constraints(entry)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(entry)
        }
        var ids: Set<String> = []
        var merged: [DatabaseEntry] = []
        for key in order {
            let group = groups[key]!
            let counts = group.reduce(into: [OSClass: Int]()) { sum, e in
                for (osClass, n) in e.counts { sum[osClass, default: 0] = sum[osClass, default: 0].adding(saturating: n) }
            }
            let labelled = group.first { $0.provenance != .learned }
            var entry = (prefer == .curated ? labelled : nil) ?? group.first { $0.provenance == .learned } ?? group[0]
            if entry.provenance == .learned, !counts.isEmpty {
                entry.osClass = LearnKey.majority(counts)
                entry.name = entry.osClass.name
            }
            entry.counts = counts
            entry.firstSeen = group.compactMap(\.firstSeen).min()
            entry.lastSeen = group.compactMap(\.lastSeen).max()
            var id = entry.id
            var suffix = 2
            while ids.contains(id) {
                id = "\(entry.id)-\(suffix)"
                suffix += 1
            }
            entry.id = id
            ids.insert(id)
            merged.append(entry)
        }
        var links: [LinkEntry] = []
        for link in databases.flatMap(\.links) where !links.contains(where: { $0.mtu == link.mtu }) {
            links.append(link)
        }
        return Database(entries: merged, links: links)
    }

    /// Drops learned entries observed fewer than `minCount` times in all.
    public static func dropRare(_ db: Database, minCount: Int) -> (Database, dropped: (keys: Int, observations: Int)) {
        var keys = 0, observations = 0
        let kept = db.entries.filter { entry in
            guard entry.provenance == .learned, entry.totalCount < minCount else { return true }
            keys += 1
            observations += entry.totalCount
            return false
        }
        return (Database(entries: kept, links: db.links), (keys, observations))
    }
}
