import FlowStats
import Match

/// The evidence each reason carries and how it combines (README "Verdicts"): independent
/// reasons combine as 1 − Π(1 − weight), so two weak signals outweigh one, and a connection is
/// flagged at `threshold` or above. With the defaults an OS mismatch or proxy headers flag on
/// their own; a tunnel MTU, a clamped MSS or a shared address do not.
public struct VerdictRules: Sendable {
    public enum Level: String, Sendable, CaseIterable {
        case family  // Windows / Apple / Linux-like / BSD / Other: what a SYN tells reliably
        case osClass = "class"
    }

    public var weights: [VerdictReason: Float] = [
        .osMismatch: 0.7, .proxyHeaders: 0.6, .tunnelMTU: 0.3, .mssClamped: 0.25, .ipSharing: 0.3, .tunnelFlow: 0.6,
        .tlsMismatch: 0.6, .tlsOSMismatch: 0.6,
    ]
    public var threshold: Float = 0.5
    /// The TCP guess must be at least this sure (of the family, or of the class at class level)
    /// before it can contradict the User-Agent.
    public var minimumConfidence: Float = 0.8
    public var level: Level = .family

    public init() {}

    public func verdict(
        claimed: ClaimedOS?, classification: Classification?, path: NetworkPath?,
        proxyHeaders: Bool, ipSharing: Bool, tunnelRules: TunnelFlowRules = [], claimedTLS: TLSFamily? = nil, tls: TLSClient? = nil
    ) -> Verdict {
        var reasons: [VerdictReason] = []
        if let claimed, let classification, mismatch(claimed, classification) { reasons.append(.osMismatch) }
        if let claimedTLS, let tls, tlsMismatch(claimedTLS, tls) { reasons.append(.tlsMismatch) }
        if let tls, let classification, tlsOSMismatch(tls, classification) { reasons.append(.tlsOSMismatch) }
        if path?.tunnel == true { reasons.append(.tunnelMTU) }
        if path?.clamped == true { reasons.append(.mssClamped) }
        if proxyHeaders { reasons.append(.proxyHeaders) }
        if ipSharing { reasons.append(.ipSharing) }
        if !tunnelRules.isEmpty { reasons.append(.tunnelFlow) }
        let clear = reasons.reduce(Float(1)) { $0 * (1 - (weights[$1] ?? 0)) }
        let score = 1 - clear
        return Verdict(
            flagged: !reasons.isEmpty && score >= threshold, score: score, reasons: reasons,
            claimed: claimed, stack: classification.map(StackGuess.init), tunnelRules: tunnelRules, tls: tls)
    }

    /// The ClientHello's library is not the one the User-Agent's browser or library brings, and
    /// the hello is sure of its library. Programs on one library (curl, Python, Node on OpenSSL)
    /// do not contradict each other: what sets them apart is too thin.
    func tlsMismatch(_ claimed: TLSFamily, _ tls: TLSClient) -> Bool {
        tls.family != .other && claimed.library != tls.family.library && tls.libraryConfidence >= minimumConfidence
    }

    /// A TLS library that only one OS family has (Schannel: Windows; Apple's: macOS and iOS)
    /// over a TCP stack surely of another family.
    func tlsOSMismatch(_ tls: TLSClient, _ c: Classification) -> Bool {
        let family: OSFamily? =
            switch tls.family {
            case .schannel: .windows
            case .safari: .apple
            default: nil
            }
        guard let family, tls.libraryConfidence >= minimumConfidence, c.family != .unknown else { return false }
        return c.family != family && c.familyConfidence >= minimumConfidence
    }

    /// An unknown or unsure TCP guess never contradicts; ChromeOS runs a Linux stack, and at
    /// the family level macOS/iOS and Linux/Android/ChromeOS are one. A certain family
    /// contradicts a claim of another family even when the class within it stays open.
    func mismatch(_ claimed: ClaimedOS, _ c: Classification) -> Bool {
        guard c.family != .unknown, claimed.family != .unknown else { return false }
        if claimed.family != c.family { return c.familyConfidence >= minimumConfidence }
        guard c.osClass != .unknown else { return false }
        guard level == .osClass, let claimedClass = claimed.osClass, claimedClass != c.osClass else { return false }
        if claimedClass == .chromeOS && c.osClass == .linux { return false }
        return c.confidence >= minimumConfidence
    }

    /// Sets a rule from `name=value` (`os_mismatch=0.8`, `threshold=0.6`, `confidence=0.9`,
    /// `level=class`); returns the problem, if any.
    public mutating func set(_ assignment: String) -> String? {
        let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return "expected name=value, found \"\(assignment)\"" }
        if parts[0] == "level" {
            guard let level = Level(rawValue: parts[1]) else { return "level is family or class" }
            self.level = level
            return nil
        }
        guard let value = Float(parts[1]), (0...1).contains(value) else {
            return "\(parts[0]) needs a number from 0 to 1, found \"\(parts[1])\""
        }
        switch parts[0] {
        case "threshold": threshold = value
        case "confidence": minimumConfidence = value
        default:
            guard let reason = VerdictReason(rawValue: parts[0]) else {
                let names = VerdictReason.allCases.map(\.rawValue) + ["threshold", "confidence", "level"]
                return "unknown verdict rule \"\(parts[0])\" (known: \(names.joined(separator: ", ")))"
            }
            weights[reason] = value
        }
        return nil
    }
}
