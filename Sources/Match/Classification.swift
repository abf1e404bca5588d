/// How the best entry matched, in p0f's terms.
public enum MatchKind: String, Sendable {
    case exact  // a specific entry matched on every field it constrains
    case generic  // the best entry is a generic one (or matched through its wildcards)
    case fuzzy  // the best entry differs in some field
    case none  // no entry shares enough of the option layout to be compared
}

/// The matcher's answer for one SYN or SYN+ACK. A value with inline storage, so a cached
/// answer is copied, never allocated.
public struct Classification: Sendable {
    /// Distinct for every answer the matcher computes (cache hits repeat it), so renderings
    /// of an answer can be reused. 0 for `unmatched`.
    public var answerID: Int
    public var osClass: OSClass
    public var family: OSFamily
    public var confidence: Float  // of `osClass`; below the threshold it is `unknown`
    public var familyConfidence: Float
    public var kind: MatchKind
    /// Share of the evidence per class, indexed by `OSClass.rawValue`; sums to 1 when matched.
    public var classScores: PerOSClass<Float>
    /// The three best-scoring entries, best first.
    public var best: TopCandidates
    /// A class with exactly the evidence of `osClass` (macOS and iOS share a stack): which of
    /// the two a packet is called is drawn per connection (`Matcher.match`).
    public var tiedClass: OSClass?

    public var bestEntryIndex: Int? { best.first?.entryIndex }

    static let unmatched = Classification(
        answerID: 0, osClass: .unknown, family: .unknown, confidence: 0, familyConfidence: 0, kind: .none,
        classScores: InlineArray(repeating: 0), best: TopCandidates())

    init(
        answerID: Int, osClass: OSClass, family: OSFamily, confidence: Float, familyConfidence: Float, kind: MatchKind,
        classScores: PerOSClass<Float>, best: TopCandidates, tiedClass: OSClass? = nil
    ) {
        self.answerID = answerID
        self.osClass = osClass
        self.family = family
        self.confidence = confidence
        self.familyConfidence = familyConfidence
        self.kind = kind
        self.classScores = classScores
        self.best = best
        self.tiedClass = tiedClass
    }

    /// The answer with the tied class as `osClass`: a distinct answer, rendered on its own.
    func swappingTie() -> Classification {
        guard let tiedClass else { return self }
        var swapped = self
        swapped.osClass = tiedClass
        swapped.tiedClass = osClass
        swapped.answerID = -answerID
        return swapped
    }
}
