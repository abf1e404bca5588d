import Features
import Match
import Verdict

/// Why a labelled SYN is kept out of a learned database. Raw values are the names printed.
public enum Exclusion: String, CaseIterable, Sendable {
    case synAck = "synack"                              // describes a server, not the labelled client
    case botUserAgent = "bot_user_agent"                // crawlers copy browser UAs
    case noOSNamed = "ua_names_no_os"                   // tools and apps that name no OS
    case familyOnly = "ua_names_family_only"            // e.g. CFNetwork "Darwin/…": macOS or iOS
    case craftedSYN = "crafted_syn"                     // scanner traits or no options
    case familyDisagrees = "tcp_family_disagrees"       // a VPN/proxy case, not a new signature
}

/// What keeps a labelled SYN out of a learned database (README, "Building a database").
public struct ExclusionRules: Sendable {
    /// The curated matcher must be at least this sure of a family before it can veto a label.
    public var disagreeConfidence: Float = 0.9

    public init() {}

    /// The rule a labelled SYN breaks, if any. `classification` is the curated database's
    /// answer for the same SYN.
    public func exclusion(_ fp: Fingerprint, label: ClaimedOS?, userAgent: String?, classification: Classification?) -> Exclusion? {
        if fp.direction == .synAck { return .synAck }
        guard let label else {
            if let userAgent, UserAgentRules.isBot(userAgent) { return .botUserAgent }
            return .noOSNamed
        }
        if label.osClass == nil { return .familyOnly }
        if looksCrafted(fp, classification) { return .craftedSYN }
        if let c = classification, c.decision != .unknown, c.familyConfidence >= disagreeConfidence, c.family != label.family {
            return .familyDisagrees
        }
        return nil
    }

    /// Scanners and hand-made packets: no options at all, a scanner's match, a TTL no stack
    /// starts with, or header bits no stack sets.
    func looksCrafted(_ fp: Fingerprint, _ c: Classification?) -> Bool {
        if fp.options.layout.isEmpty || !fp.distanceIsPlausible { return true }
        if let c, [.zmap, .masscan, .nmap].contains(c.decision) { return true }
        return !fp.quirks.isDisjoint(with: [.zeroSequence, .malformedOptions, .reservedIPBit])
    }
}

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
    public func observe(_ fp: Fingerprint, label: ClaimedOS?, userAgent: String?, classification: Classification?,
                        seconds: Int) -> Exclusion? {
        if let reason = rules.exclusion(fp, label: label, userAgent: userAgent, classification: classification) {
            excluded[reason, default: 0] += 1
            return reason
        }
        accepted += 1
        let osClass = label!.osClass!
        tallies[LearnKey(fp), default: Tally()].add(osClass, at: seconds)
        return nil
    }

    /// A learned entry per key, most observed first (`Maintenance.dropRare` applies the minimum
    /// count once observations from every source are merged).
    public func entries(source: String) -> [DatabaseEntry] {
        var result: [(Int, DatabaseEntry)] = []
        for (key, tally) in tallies {
            let total = tally.counts.values.reduce(0, +)
            result.append((total, key.entry(counts: tally.counts, firstSeen: Learner.timestamp(tally.firstSeen),
                                             lastSeen: Learner.timestamp(tally.lastSeen), source: source)))
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
