import Features
import Match
import Verdict

/// Why a labelled SYN is kept out of a learned database. Raw values are the names printed.
public enum Exclusion: String, CaseIterable, Sendable, Error {
    case synAck = "synack"  // describes a server, not the labelled client
    case botUserAgent = "bot_user_agent"  // crawlers copy browser UAs
    case noOSNamed = "ua_names_no_os"  // tools and apps that name no OS
    case familyOnly = "ua_names_family_only"  // e.g. CFNetwork "Darwin/…": macOS or iOS
    case craftedSYN = "crafted_syn"  // scanner traits or no options
    case familyDisagrees = "tcp_family_disagrees"  // a VPN/proxy case, not a new signature
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
        if let c = classification, c.osClass != .unknown, c.familyConfidence >= disagreeConfidence, c.family != label.family {
            return .familyDisagrees
        }
        return nil
    }

    /// Scanners and hand-made packets: no options at all, a scanner's match, a TTL no stack
    /// starts with, or header bits no stack sets.
    func looksCrafted(_ fp: Fingerprint, _ c: Classification?) -> Bool {
        if fp.options.layout.isEmpty || !fp.distanceIsPlausible { return true }
        if let c, [.zmap, .masscan, .nmap].contains(c.osClass) { return true }
        return !fp.quirks.isDisjoint(with: [.zeroSequence, .malformedOptions, .reservedIPBit])
    }
}
