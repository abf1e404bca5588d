/// The matcher's tunable numbers. Defaults and their reasons are in the README; every one can
/// be overridden from the command line (`--weight layout=5`).
public struct MatchWeights: Sendable {
    public var layout: Float = 4        // option layout: the strongest single field
    public var window: Float = 2
    public var scale: Float = 2
    public var ttl: Float = 2           // initial TTL within 35 hops
    public var mss: Float = 1           // says more about the link than the OS
    public var dontFragment: Float = 1
    public var ipID: Float = 1
    public var ecn: Float = 0.5
    public var ipVersion: Float = 0.5
    public var quirks: Float = 1
    /// Credit for a field an entry leaves open: less than a real match, so specific wins.
    public var wildcardCredit: Float = 0.75
    /// How sharply evidence concentrates on the best-scoring entries (softmax temperature⁻¹).
    public var sharpness: Float = 20
    /// Below this confidence the class (or family) is reported as `unknown`.
    public var minConfidence: Float = 0.5

    /// Observations at which a learned entry votes half as much as a curated one.
    public static let learnedPrior: Float = 2

    public init() {}

    public static let names = ["layout", "window", "scale", "ttl", "mss", "df", "ip_id", "ecn", "ip_version",
                               "quirks", "wildcard_credit", "sharpness", "min_confidence"]

    /// Applies `name=value`; returns an error message for an unknown name or bad value.
    public mutating func set(_ assignment: String) -> String? {
        let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, let value = Float(parts[1]), value >= 0 else {
            return "weight \"\(assignment)\": expected NAME=NUMBER with NUMBER ≥ 0"
        }
        switch parts[0] {
        case "layout": layout = value
        case "window": window = value
        case "scale": scale = value
        case "ttl": ttl = value
        case "mss": mss = value
        case "df": dontFragment = value
        case "ip_id": ipID = value
        case "ecn": ecn = value
        case "ip_version": ipVersion = value
        case "quirks": quirks = value
        case "wildcard_credit": wildcardCredit = value
        case "sharpness": sharpness = value
        case "min_confidence": minConfidence = value
        default: return "weight \"\(parts[0])\" is unknown; known: \(MatchWeights.names.joined(separator: ", "))"
        }
        return nil
    }
}
