/// How the best entry matched, in p0f's terms.
public enum MatchKind: String, Sendable {
    case exact      // a specific entry matched on every field it constrains
    case generic    // the best entry is a generic one (or matched through its wildcards)
    case fuzzy      // the best entry differs in some field
    case none       // no entry shares enough of the option layout to be compared
}

/// One scored database entry.
public struct Candidate: Sendable, Equatable {
    public var entry: Int       // index into `Database.entries`
    public var score: Float     // weighted similarity in [0, 1]
}

/// The matcher's answer for one SYN or SYN+ACK. A value with inline storage, so a cached
/// answer is copied, never allocated.
public struct Classification: Sendable {
    /// Distinct for every answer the matcher computes (cache hits repeat it), so renderings
    /// of an answer can be reused. 0 for `unmatched`.
    public var answer: Int
    public var decision: OSClass
    public var family: OSFamily
    public var confidence: Float          // of `decision`; below the threshold it is `unknown`
    public var familyConfidence: Float
    public var kind: MatchKind
    /// Share of the evidence per class, indexed by `OSClass.rawValue`; sums to 1 when matched.
    public var classScores: InlineArray<15, Float>
    /// The three best-scoring entries, best first.
    public var best: TopCandidates

    public var bestEntry: Int? { best.first?.entry }

    static let unmatched = Classification(
        answer: 0, decision: .unknown, family: .unknown, confidence: 0, familyConfidence: 0, kind: .none,
        classScores: InlineArray(repeating: 0), best: TopCandidates())

    init(answer: Int, decision: OSClass, family: OSFamily, confidence: Float, familyConfidence: Float, kind: MatchKind,
         classScores: InlineArray<15, Float>, best: TopCandidates) {
        self.answer = answer
        self.decision = decision
        self.family = family
        self.confidence = confidence
        self.familyConfidence = familyConfidence
        self.kind = kind
        self.classScores = classScores
        self.best = best
    }
}

/// Up to three candidates kept in order of score, stored inline.
public struct TopCandidates: RandomAccessCollection, Sendable {
    private var storage = InlineArray<3, Candidate>(repeating: Candidate(entry: 0, score: 0))
    public private(set) var count = 0

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    public subscript(position: Int) -> Candidate { storage[position] }

    /// Inserts `candidate` if it is among the three best so far.
    mutating func offer(_ candidate: Candidate) {
        var position = count
        while position > 0, storage[position - 1].score < candidate.score { position -= 1 }
        guard position < 3 else { return }
        var i = Swift.min(count, 2)
        while i > position {
            storage[i] = storage[i - 1]
            i -= 1
        }
        storage[position] = candidate
        count = Swift.min(count + 1, 3)
    }
}
