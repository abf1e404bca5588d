/// The matcher's tunable numbers, with the reason for each default; every one can be overridden
/// from the command line (`--weight layout=5`). Fields an entry cannot judge for a packet (the IP
/// ID of an IPv6 SYN, the flow label of an IPv4 one, an MSS the entry leaves to the path) count
/// neither for nor against it.
public struct MatchWeights: Sendable {
    /// The option layout: the field that separates stacks best (each writes options its own way).
    public var layout: Float = 4
    /// The window rule: how the stack sizes its first window.
    public var window: Float = 2.5
    /// The window scale: it follows buffer sizes, which follow configuration and memory, so a
    /// stack lists a range and the value is a weaker cue than the layout.
    public var scale: Float = 1.5
    /// The initial TTL (the path removes hops, never adds them).
    public var ttl: Float = 2
    /// An MSS an entry fixes (scanners); real stacks leave the MSS to the path.
    public var mss: Float = 1
    public var dontFragment: Float = 1
    public var ipID: Float = 1
    /// ECN in the SYN is a per-host setting on most stacks: it leans, never decides.
    public var ecn: Float = 0.25
    /// Whether an IPv6 SYN carries a flow label.
    public var flowLabel: Float = 0.5
    public var ipVersion: Float = 0.5
    public var quirks: Float = 1
    /// Credit for a field an entry leaves open: less than a real match, so specific wins.
    public var wildcardCredit: Float = 0.75
    /// Credit for a value an entry lists as a variant of its stack (an option switched off, a
    /// tuned buffer): a match, less sure than the stack's default.
    public var variantCredit: Float = 0.8
    /// How sharply evidence concentrates on the best-scoring entries (softmax temperature⁻¹).
    public var sharpness: Float = 20
    /// Below this class confidence the class is reported as `unknown` (the family stays named).
    public var minConfidence: Float = 0.2
    /// Below this family confidence the family is reported as `unknown` too.
    public var minFamilyConfidence: Float = 0.2

    /// Observations at which a learned entry votes half as much as a curated one.
    public static let learnedPrior: Float = 2

    public init() {}

    public static let names = [
        "layout", "window", "scale", "ttl", "mss", "df", "ip_id", "ecn", "flow", "ip_version",
        "quirks", "wildcard_credit", "variant_credit", "sharpness", "min_confidence",
        "min_family_confidence",
    ]

    /// Applies `name=value`; returns an error message for an unknown name or a value that is
    /// not a finite number in range (weights 0-100; credits and confidences 0-1; sharpness 0-1000).
    public mutating func set(_ assignment: String) -> String? {
        let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, let value = Float(parts[1]), value.isFinite else {
            return "weight \"\(assignment)\": expected NAME=NUMBER"
        }
        let unit: ClosedRange<Float> = 0...1, weight: ClosedRange<Float> = 0...100
        let target: (WritableKeyPath<MatchWeights, Float>, ClosedRange<Float>)
        switch parts[0] {
        case "layout": target = (\.layout, weight)
        case "window": target = (\.window, weight)
        case "scale": target = (\.scale, weight)
        case "ttl": target = (\.ttl, weight)
        case "mss": target = (\.mss, weight)
        case "df": target = (\.dontFragment, weight)
        case "ip_id": target = (\.ipID, weight)
        case "ecn": target = (\.ecn, weight)
        case "flow": target = (\.flowLabel, weight)
        case "ip_version": target = (\.ipVersion, weight)
        case "quirks": target = (\.quirks, weight)
        case "wildcard_credit": target = (\.wildcardCredit, unit)
        case "variant_credit": target = (\.variantCredit, unit)
        case "sharpness": target = (\.sharpness, 0...1000)
        case "min_confidence": target = (\.minConfidence, unit)
        case "min_family_confidence": target = (\.minFamilyConfidence, unit)
        default: return "weight \"\(parts[0])\" is unknown; known: \(MatchWeights.names.joined(separator: ", "))"
        }
        guard target.1.contains(value) else {
            return "weight \(parts[0]) must be from \(target.1.lowerBound) to \(target.1.upperBound), found \(parts[1])"
        }
        self[keyPath: target.0] = value
        return nil
    }
}
