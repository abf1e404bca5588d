import Connections

/// Connection stages over a whole run in at most `maxBuckets` time buckets, for charts. Buckets
/// start one second wide; when the run outgrows them, neighbours merge and the width doubles,
/// so the memory stays fixed however long the run.
public struct StageTimeline: Sendable {
    public static let maxBuckets = 240
    static let stages = ConnectionStage.allCases.count

    /// Seconds since the epoch at which the first bucket starts.
    public private(set) var start: Int64 = 0
    public private(set) var width: Int64 = 1
    /// Stage counts, `counts[bucket * stages + stage]`.
    public private(set) var counts: [Int] = []

    public var bucketCount: Int { counts.count / StageTimeline.stages }

    /// The stage counts of one bucket.
    public func bucket(_ i: Int) -> ArraySlice<Int> { counts[i * StageTimeline.stages..<(i + 1) * StageTimeline.stages] }

    /// Counts `count` connections that ended in `stage` at `seconds`; one earlier than the first
    /// bucket (records end out of order by up to a sweep) counts in the first. The first call
    /// sets the start; after it, the order of calls does not change the result.
    public mutating func add(stage: Int, at seconds: Int64, count: Int = 1) {
        if counts.isEmpty { start = seconds }
        var index = Int(max(0, seconds - start) / width)
        while index >= StageTimeline.maxBuckets {
            mergeNeighbours()
            index = Int(max(0, seconds - start) / width)
        }
        let needed = (index + 1) * StageTimeline.stages
        if counts.count < needed { counts.append(contentsOf: repeatElement(0, count: needed - counts.count)) }
        counts[index * StageTimeline.stages + stage] += count
    }

    private mutating func mergeNeighbours() {
        let n = StageTimeline.stages
        var merged = [Int](repeating: 0, count: (bucketCount + 1) / 2 * n)
        for (i, count) in counts.enumerated() { merged[(i / n) / 2 * n + i % n] += count }
        counts = merged
        width *= 2
    }
}
