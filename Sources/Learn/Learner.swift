import Features
import Formatting
import Match
import Verdict

/// Turns labelled SYNs into learned entries. Observations are tallied per `LearnKey`, so
/// memory follows the number of distinct keys, not the number of SYNs.
public final class Learner {
    public var rules = ExclusionRules()
    public private(set) var excluded: [Exclusion: Int] = [:]
    public private(set) var accepted = 0

    struct Tally {
        var counts: [OSClass: Int] = [:]
        var firstSeen = Int.max
        var lastSeen = Int.min
    }

    private var tallies: [LearnKey: Tally] = [:]

    public init() {}

    public var distinctKeys: Int { tallies.count }

    /// Counts one labelled SYN; returns why it was left out, if it was.
    @discardableResult
    public func observe(
        _ fp: Fingerprint, label: ClaimedOS?, userAgent: String?, classification: Classification?,
        seconds: Int
    ) -> Exclusion? {
        if let reason = rules.exclusion(fp, label: label, userAgent: userAgent, classification: classification) {
            excluded[reason, default: 0] += 1
            return reason
        }
        accepted += 1
        let osClass = label!.osClass!
        tallies[LearnKey(fp), default: Tally()].add(osClass, at: seconds)
        return nil
    }

    /// A learned entry per key, most observed first (`DatabaseMerge.dropRare` applies the minimum
    /// count once observations from every source are merged).
    public func entries(source: String) -> [DatabaseEntry] {
        var result: [(Int, DatabaseEntry)] = []
        for (key, tally) in tallies {
            let total = tally.counts.values.reduce(0, +)
            result.append(
                (
                    total,
                    key.entry(
                        counts: tally.counts, firstSeen: Learner.timestamp(tally.firstSeen),
                        lastSeen: Learner.timestamp(tally.lastSeen), source: source)
                ))
        }
        return result.sorted { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1.id < $1.1.id }.map(\.1)
    }

    static func timestamp(_ seconds: Int) -> String {
        let text = TextBuffer(capacity: 32)
        text.appendTimestamp(seconds: seconds, microseconds: 0)
        return text.string
    }
}

extension Learner.Tally {
    mutating func add(_ osClass: OSClass, at seconds: Int) {
        counts[osClass, default: 0] += 1
        firstSeen = min(firstSeen, seconds)
        lastSeen = max(lastSeen, seconds)
    }
}
