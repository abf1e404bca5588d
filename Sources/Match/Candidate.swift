/// One scored database entry.
public struct Candidate: Sendable, Equatable {
    public var entryIndex: Int  // into `Database.entries`
    public var score: Float  // weighted similarity in [0, 1]
}

/// Up to three candidates kept in order of score, stored inline.
public struct TopCandidates: RandomAccessCollection, Sendable {
    private var storage = InlineArray<3, Candidate>(repeating: Candidate(entryIndex: 0, score: 0))
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
