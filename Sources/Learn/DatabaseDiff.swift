import Match

/// `db diff`: what a candidate database changes, for review before deploying. Entries are the
/// same when they match the same packets, whatever their ids.
public enum DatabaseDiff {
    /// What changes from `old` to `new`: `+` added, `-` removed, `~` relabelled or recounted.
    public static func lines(_ old: Database, _ new: Database) -> [String] {
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
        entry.counts.isEmpty
            ? ""
            : " {"
                + entry.counts.sorted { $0.key.rawValue < $1.key.rawValue }
                .map { "\($0.key.name): \($0.value)" }.joined(separator: ", ") + "}"
    }
}
