import Match

/// `db stats`: what a database holds, for review.
public enum DatabaseStatistics {
    /// A report for review: entries and observations per class, conflicting keys, coverage.
    public static func report(_ db: Database) -> String {
        var lines: [String] = []
        let byProvenance = Dictionary(grouping: db.entries, by: \.provenance)
        lines.append(
            "\(db.entries.count) entries ("
                + Provenance.allCases.map { "\(byProvenance[$0]?.count ?? 0) \($0.rawValue)" }
                .joined(separator: ", ") + "), \(db.links.count) link entries")
        var observations: [OSClass: Int] = [:]
        var entriesPerClass: [OSClass: Int] = [:]
        var conflicting: [(DatabaseEntry, Double)] = []
        var total = 0, clean = 0
        for entry in db.entries {
            entriesPerClass[entry.osClass, default: 0] += 1
            for (osClass, n) in entry.counts { observations[osClass, default: 0] = observations[osClass, default: 0].adding(saturating: n) }
            let sum = entry.totalCount
            guard sum > 0 else { continue }
            total = total.adding(saturating: sum)
            let top = entry.counts.values.max() ?? 0
            if Double(top) / Double(sum) >= 0.9 { clean = clean.adding(saturating: sum) }
            if entry.counts.count > 1 { conflicting.append((entry, 1 - Double(top) / Double(sum))) }
        }
        lines.append("class        entries  observations")
        for osClass in OSClass.labels where entriesPerClass[osClass] != nil || observations[osClass] != nil {
            lines.append(
                osClass.name.padding(toLength: 12, withPad: " ", startingAt: 0)
                    + " " + pad(entriesPerClass[osClass] ?? 0, 7) + "  " + pad(observations[osClass] ?? 0, 12))
        }
        lines.append("\(total) observations in \(db.entries.filter { $0.totalCount > 0 }.count) counted entries")
        if total > 0 {
            let share = Double(clean) / Double(total) * 100
            lines.append(
                "coverage: \(Int(share.rounded())) % of observations fall in entries whose leading class has at least 90 % of them")
        }
        lines.append("\(conflicting.count) conflicting keys (observed as more than one class)")
        for (entry, minority) in conflicting.sorted(by: { $0.1 > $1.1 }).prefix(10) {
            let counts = entry.counts.sorted { $0.value > $1.value }.map { "\($0.key.name) \($0.value)" }.joined(separator: ", ")
            lines.append("  \(entry.id): \(counts) (minority \(Int((minority * 100).rounded())) %)")
        }
        return lines.joined(separator: "\n")
    }

    static func pad(_ n: Int, _ width: Int) -> String {
        let text = String(n)
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }
}
