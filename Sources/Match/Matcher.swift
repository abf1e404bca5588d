import Features
#if canImport(Glibc)
import Glibc
#endif

/// Scores a fingerprint against the database with weighted per-field similarity.
///
/// Cost does not grow with the database: entries are indexed by option layout (then by the
/// order of the significant options, then by their set), only that bucket is scored, and the
/// answer is memoized per `MatchKey` in a bounded two-generation cache.
public final class Matcher {
    public let database: Database
    public let weights: MatchWeights
    private let index: [Direction: LayoutIndex]
    private let fixedIPIDs: Set<UInt16>
    private var recent: [MatchKey: Classification] = [:]
    private var older: [MatchKey: Classification] = [:]
    private let cacheGeneration: Int
    private var answersComputed = 0

    public init(database: Database, weights: MatchWeights = MatchWeights(), cacheSize: Int = 65_536) {
        self.database = database
        self.weights = weights
        cacheGeneration = max(1, cacheSize / 2)
        var fixed = Set<UInt16>()
        var byDirection: [Direction: LayoutIndex] = [.syn: LayoutIndex(), .synAck: LayoutIndex()]
        for (i, entry) in database.entries.enumerated() {
            byDirection[entry.direction]!.add(i, entry.layout)
            if case .value(let id) = entry.ipID { fixed.insert(id) }
        }
        index = byDirection
        fixedIPIDs = fixed
        recent.reserveCapacity(cacheGeneration)
    }

    public func classify(_ fp: Fingerprint) -> Classification {
        let key = makeKey(fp)
        if let hit = recent[key] { return hit }
        let answer = older[key] ?? compute(key)
        if recent.count >= cacheGeneration {
            older = recent
            recent = Dictionary(minimumCapacity: cacheGeneration)
        }
        recent[key] = answer
        return answer
    }

    func makeKey(_ fp: Fingerprint) -> MatchKey {
        let id = fp.ip.ipID
        return MatchKey(
            direction: fp.direction,
            ipVersion: fp.ip.version,
            initialTTL: fp.initialTTL,
            plausibleDistance: fp.distanceIsPlausible,
            dontFragment: fp.ip.dontFragment,
            ipID: fp.ip.version == 4 && fixedIPIDs.contains(id) ? Int32(id) : (id == 0 ? -1 : -2),
            ecn: fp.quirks.contains(.ecn),
            window: fp.segment.window,
            mss: fp.options.mss.map(Int32.init) ?? -1,
            scale: fp.options.windowScale.map(Int16.init) ?? -1,
            layout: fp.options.layout,
            eolPadding: fp.options.eolPadding,
            quirks: fp.quirks.intersection(.comparedAsSet))
    }

    func compute(_ key: MatchKey) -> Classification {
        let candidates = index[key.direction]!.candidates(for: key.layout)
        guard !candidates.isEmpty else { return .unmatched }
        var top = TopCandidates()
        var scores = [Float](repeating: 0, count: candidates.count)
        var exactEntries = Set<Int>()
        for (n, i) in candidates.enumerated() {
            let (score, exact) = similarity(database.entries[i], key)
            scores[n] = score
            top.offer(Candidate(entryIndex: i, score: score))
            if exact { exactEntries.insert(i) }
        }
        let bestScore = top[0].score
        // Evidence per class: every candidate votes with its label distribution, weighted by
        // how close it comes to the best score.
        var classScores = InlineArray<15, Float>(repeating: 0)
        var total: Float = 0
        for (n, i) in candidates.enumerated() {
            let weight = expf(weights.sharpness * (scores[n] - bestScore))
            guard weight > 1e-4 else { continue }
            let entry = database.entries[i]
            if entry.counts.isEmpty {
                classScores[entry.osClass.rawValue] += weight
            } else {
                // One pseudo-observation for the entry's own class keeps a tiny sample honest, and
                // a learned entry votes with the weight of its evidence: a key seen once counts a
                // third of a curated entry, a key seen 100 times nearly as much. (Curated counts
                // state a prior, such as the Apple entries' iOS:macOS share, and vote in full.)
                let denominator = Float(entry.totalCount + 1)
                let evidence = entry.provenance != .learned ? weight
                    : weight * Float(entry.totalCount) / (Float(entry.totalCount) + MatchWeights.learnedPrior)
                for (osClass, count) in entry.counts {
                    classScores[osClass.rawValue] += evidence * Float(count) / denominator
                }
                classScores[entry.osClass.rawValue] += evidence / denominator
                total += evidence
                continue
            }
            total += weight
        }
        var familyScores = InlineArray<6, Float>(repeating: 0)
        var leading = OSClass.unknown
        for c in OSClass.labels {
            classScores[c.rawValue] /= total
            familyScores[c.family.rawValue] += classScores[c.rawValue]
            if leading == .unknown || classScores[c.rawValue] > classScores[leading.rawValue] { leading = c }
        }
        var leadingFamily = OSFamily.unknown
        for f in OSFamily.allCases where f != .unknown {
            if leadingFamily == .unknown || familyScores[f.rawValue] > familyScores[leadingFamily.rawValue] { leadingFamily = f }
        }
        let quality = matchQuality(bestScore)
        let confidence = classScores[leading.rawValue] * quality
        let familyConfidence = familyScores[leadingFamily.rawValue] * quality
        let bestEntry = database.entries[top[0].entryIndex]
        let kind: MatchKind = bestEntry.generic ? .generic : (exactEntries.contains(top[0].entryIndex) ? .exact : .fuzzy)
        answersComputed += 1
        return Classification(
            answerID: answersComputed,
            osClass: confidence >= weights.minConfidence ? leading : .unknown,
            family: familyConfidence >= weights.minConfidence ? leadingFamily : .unknown,
            confidence: confidence, familyConfidence: familyConfidence, kind: kind,
            classScores: classScores, best: top)
    }

    /// 1 for a full match, falling to 0 at a similarity of 0.6 (a layout match alone scores 0.27).
    func matchQuality(_ score: Float) -> Float {
        min(1, max(0, (score - 0.6) / 0.4))
    }

    /// Weighted similarity in [0, 1], and whether every constrained field matched exactly.
    func similarity(_ e: DatabaseEntry, _ k: MatchKey) -> (Float, Bool) {
        let w = weights
        var sum: Float = 0
        var exact = true
        func add(_ weight: Float, _ similarity: Float?) {
            guard let similarity else {
                sum += weight * w.wildcardCredit
                return
            }
            sum += weight * similarity
            if similarity < 1 { exact = false }
        }
        switch e.layout {
        case .any: add(w.layout, nil)
        case .exactly(let layout):
            if layout == k.layout {
                add(w.layout, e.eolPadding == k.eolPadding ? 1 : 0.9)
            } else if LayoutIndex.order(layout) == LayoutIndex.order(k.layout) {
                add(w.layout, 0.6)
            } else {
                add(w.layout, LayoutIndex.kindSet(layout) == LayoutIndex.kindSet(k.layout) ? 0.3 : 0)
            }
        }
        add(w.window, windowSimilarity(e.window, k))
        switch e.windowScale {
        case .any: add(w.scale, nil)
        case .exactly(let scale): add(w.scale, Int16(scale) == k.scale ? 1 : 0)
        }
        switch e.initialTTL {
        case .any: add(w.ttl, nil)
        case .exactly(let ttl): add(w.ttl, ttl == k.initialTTL && k.plausibleDistance ? 1 : 0)
        }
        switch e.mss {
        case .any: add(w.mss, nil)
        case .exactly(let mss):
            // A smaller MSS is what tunnels and clamping middleboxes do to any stack.
            add(w.mss, Int32(mss) == k.mss ? 1 : (k.mss > 0 && k.mss < Int32(mss) ? 0.5 : 0))
        }
        switch e.dontFragment {
        case .any: add(w.dontFragment, nil)
        case .exactly(let df): add(w.dontFragment, df == k.dontFragment || k.ipVersion == 6 ? 1 : 0)
        }
        switch e.ipID {
        case .any: add(w.ipID, nil)
        case .zero: add(w.ipID, k.ipID == -1 || k.ipVersion == 6 ? 1 : 0)
        case .nonZero: add(w.ipID, k.ipID != -1 || k.ipVersion == 6 ? 1 : 0)
        case .value(let id): add(w.ipID, k.ipID == Int32(id) ? 1 : 0)
        }
        switch e.ecn {
        case .any: add(w.ecn, nil)
        case .exactly(let ecn): add(w.ecn, ecn == k.ecn ? 1 : 0)
        }
        switch e.ipVersion {
        case .any: add(w.ipVersion, nil)
        case .exactly(let version): add(w.ipVersion, version == k.ipVersion ? 1 : 0)
        }
        switch e.quirks {
        case .any: add(w.quirks, nil)
        case .exactly(let quirks):
            let union = quirks.union(k.quirks).rawValue.nonzeroBitCount
            add(w.quirks, union == 0 ? 1 : Float(quirks.intersection(k.quirks).rawValue.nonzeroBitCount) / Float(union))
        }
        let total = w.layout + w.window + w.scale + w.ttl + w.mss + w.dontFragment + w.ipID + w.ecn + w.ipVersion + w.quirks
        return (total > 0 ? sum / total : 0, exact)
    }

    func windowSimilarity(_ rule: WindowRule, _ k: MatchKey) -> Float? {
        let window = Int(k.window)
        let mss = Int(k.mss)
        switch rule {
        case .any:
            return nil
        case .value(let value):
            return value == window ? 1 : 0
        case .modulo(let n):
            return window % n == 0 ? 1 : 0
        case .mssMultiple(let n):
            if mss > 0, window == n * mss { return 1 }
            // The sender computed N × its own MSS, and a middlebox lowered the MSS after.
            return window == n * 1460 ? 0.8 : 0
        case .mtuMultiple(let n):
            let overhead = k.ipVersion == 6 ? 60 : 40
            if mss > 0, window == n * (mss + overhead) { return 1 }
            return window == n * 1500 ? 0.8 : 0
        }
    }
}
