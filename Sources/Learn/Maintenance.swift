import Match

/// `db merge`, `db stats` and `db diff`: entries are the same when they match the same packets
/// (`EntryWriter.constraints`), whatever their ids.
public enum Maintenance {
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
                for (osClass, n) in e.counts { sum[osClass, default: 0] += n }
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

    /// A report for review: entries and observations per class, conflicting keys, coverage.
    public static func stats(_ db: Database) -> String {
        var lines: [String] = []
        let byProvenance = Dictionary(grouping: db.entries, by: \.provenance)
        lines.append("\(db.entries.count) entries (" + Provenance.allCases.map { "\(byProvenance[$0]?.count ?? 0) \($0.rawValue)" }
            .joined(separator: ", ") + "), \(db.links.count) link entries")
        var observations: [OSClass: Int] = [:]
        var entriesPerClass: [OSClass: Int] = [:]
        var conflicting: [(DatabaseEntry, Double)] = []
        var total = 0, clean = 0
        for entry in db.entries {
            entriesPerClass[entry.osClass, default: 0] += 1
            for (osClass, n) in entry.counts { observations[osClass, default: 0] += n }
            let sum = entry.totalCount
            guard sum > 0 else { continue }
            total += sum
            let top = entry.counts.values.max() ?? 0
            if Double(top) / Double(sum) >= 0.9 { clean += sum }
            if entry.counts.count > 1 { conflicting.append((entry, 1 - Double(top) / Double(sum))) }
        }
        lines.append("class        entries  observations")
        for osClass in OSClass.labels where entriesPerClass[osClass] != nil || observations[osClass] != nil {
            lines.append(osClass.name.padding(toLength: 12, withPad: " ", startingAt: 0)
                + " " + pad(entriesPerClass[osClass] ?? 0, 7) + "  " + pad(observations[osClass] ?? 0, 12))
        }
        lines.append("\(total) observations in \(db.entries.filter { $0.totalCount > 0 }.count) counted entries")
        if total > 0 {
            let share = Double(clean) / Double(total) * 100
            lines.append("coverage: \(Int(share.rounded())) % of observations fall in entries whose leading class has at least 90 % of them")
        }
        lines.append("\(conflicting.count) conflicting keys (observed as more than one class)")
        for (entry, minority) in conflicting.sorted(by: { $0.1 > $1.1 }).prefix(10) {
            let counts = entry.counts.sorted { $0.value > $1.value }.map { "\($0.key.name) \($0.value)" }.joined(separator: ", ")
            lines.append("  \(entry.id): \(counts) (minority \(Int((minority * 100).rounded())) %)")
        }
        return lines.joined(separator: "\n")
    }

    /// What changes from `old` to `new`: `+` added, `-` removed, `~` relabelled or recounted.
    public static func diff(_ old: Database, _ new: Database) -> [String] {
        let before = Dictionary(old.entries.map { (EntryWriter.constraints($0), $0) }, uniquingKeysWith: { a, _ in a })
        let after = Dictionary(new.entries.map { (EntryWriter.constraints($0), $0) }, uniquingKeysWith: { a, _ in a })
        var lines: [String] = []
        for entry in new.entries {
            let key = EntryWriter.constraints(entry)
            guard let previous = before[key] else {
                lines.append("+ \(entry.id) \(entry.label) [\(entry.osClass.name)]\(countsText(entry))")
                continue
            }
            if previous.osClass != entry.osClass || previous.label != entry.label {
                lines.append("~ \(entry.id) label: \(previous.label) [\(previous.osClass.name)] -> \(entry.label) [\(entry.osClass.name)]")
            }
            if previous.counts != entry.counts {
                lines.append("~ \(entry.id) counts:\(countsText(previous)) ->\(countsText(entry))")
            }
        }
        for entry in old.entries where after[EntryWriter.constraints(entry)] == nil {
            lines.append("- \(entry.id) \(entry.label) [\(entry.osClass.name)]\(countsText(entry))")
        }
        let oldLinks = Set(old.links.map { "\($0.mtu) \($0.link)" }), newLinks = Set(new.links.map { "\($0.mtu) \($0.link)" })
        lines += newLinks.subtracting(oldLinks).sorted().map { "+ link \($0)" }
        lines += oldLinks.subtracting(newLinks).sorted().map { "- link \($0)" }
        return lines
    }

    static func countsText(_ entry: DatabaseEntry) -> String {
        entry.counts.isEmpty ? "" : " {" + entry.counts.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.key.name): \($0.value)" }.joined(separator: ", ") + "}"
    }

    static func pad(_ n: Int, _ width: Int) -> String {
        let text = String(n)
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }
}
