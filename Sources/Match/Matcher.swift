import Decode
import Features

#if canImport(Glibc)
import Glibc
#endif

/// Explains a SYN as a stack seen through a network path: `PathModel` accounts for what the
/// path did (the MSS, a clamping middlebox, the hops), and the database's stack entries are
/// scored on what the stack itself chose, with the window judged against the sender's own MSS.
///
/// Each field scores a similarity weighted by `MatchWeights`; the entries of the packet's
/// option-layout bucket vote for their classes with softmax weights of their scores, and the
/// class confidence is its share of the votes times the quality of the best match.
///
/// Cost does not grow with the database: entries are indexed by option layout (then by the
/// order of the significant options, then by their set), only that bucket is scored, and the
/// answer is memoized per `MatchKey` in a bounded two-generation cache.
public final class Matcher {
    public let database: Database
    public let weights: MatchWeights
    public let paths: PathModel
    private let index: [Direction: LayoutIndex]
    private let fixedIPIDs: Set<UInt16>
    private var recent: [MatchKey: Classification] = [:]
    private var older: [MatchKey: Classification] = [:]
    private let cacheGeneration: Int
    /// Answers scored rather than found in the cache (each gets the next answer id).
    public private(set) var answersComputed = 0
    /// Answer ids are unique among the sensor's workers (the output thread keys renderings by
    /// them): matcher `instance` of `instances` gives every `instances`-th.
    private let instance: Int
    private let instances: Int

    /// What one cached answer costs: its key and answer, in a dictionary kept at most 3/4 full.
    public static let bytesPerCachedAnswer = (MemoryLayout<MatchKey>.stride + MemoryLayout<Classification>.stride + 8) * 4 / 3

    public init(database: Database, weights: MatchWeights = MatchWeights(), cacheSize: Int = 65_536, instance: Int = 0, instances: Int = 1)
    {
        self.database = database
        self.instance = instance
        self.instances = max(instances, 1)
        self.weights = weights
        paths = PathModel(database.links)
        cacheGeneration = max(1, cacheSize / 2)
        var fixed = Set<UInt16>()
        var byDirection: [Direction: LayoutIndex] = [.syn: LayoutIndex(), .synAck: LayoutIndex()]
        for (i, entry) in database.entries.enumerated() {
            byDirection[entry.direction]!.add(i, entry.layouts)
            if case .value(let id) = entry.ipID { fixed.insert(id) }
        }
        index = byDirection
        fixedIPIDs = fixed
        recent.reserveCapacity(cacheGeneration)
    }

    /// The path the SYN came through and the stack that sent it. The hops count down from the
    /// best entry's initial TTL when it fixes one (a TTL of 27 is 37 hops from 64, not 5 from 32).
    public func match(_ fp: Fingerprint) -> (Classification, NetworkPath) {
        var path = paths.path(for: fp)
        let c = classify(fp, path: path)
        if let best = c.bestEntryIndex, case .exactly(let initial) = database.entries[best].initialTTL,
            initial >= fp.ip.ttl, c.osClass != .unknown || c.family != .unknown
        {
            path.hops = Int(initial) - Int(fp.ip.ttl)
        }
        return (c, path)
    }

    public func classify(_ fp: Fingerprint) -> Classification {
        classify(fp, path: paths.path(for: fp))
    }

    func classify(_ fp: Fingerprint, path: NetworkPath) -> Classification {
        let key = makeKey(fp, path)
        let answer: Classification
        if let hit = recent[key] {
            answer = hit
        } else {
            answer = older[key] ?? compute(key)
            if recent.count >= cacheGeneration {
                older = recent
                recent = Dictionary(minimumCapacity: cacheGeneration)
            }
            recent[key] = answer
        }
        guard answer.tiedClass != nil else { return answer }
        // Two classes the evidence cannot tell apart: calling every such SYN the same one would be
        // wrong for every client of the other. Drawn per connection (stable for it), each class
        // is right half of the time whichever dominates a network; the confidence says 0.5.
        let s = fp.segment
        let draw = ((s.ip.source.low ^ s.ip.source.high ^ UInt64(s.sourcePort)) &* 0x9E37_79B9_7F4A_7C15) >> 32
        return draw & 1 == 0 ? answer : answer.swappingTie()
    }

    func makeKey(_ fp: Fingerprint, _ path: NetworkPath) -> MatchKey {
        let id = fp.ip.ipID
        let mss = fp.options.mss.map(Int32.init) ?? -1
        return MatchKey(
            direction: fp.direction,
            ipVersion: fp.ip.version,
            reachableTTLs: Matcher.reachableTTLMasks[Int(fp.ip.ttl)],
            dontFragment: fp.ip.dontFragment,
            ipID: fp.ip.version == 4 && fixedIPIDs.contains(id) ? Int32(id) : (id == 0 ? -1 : -2),
            ecn: fp.quirks.contains(.ecn),
            flowLabel: fp.ip.flowLabel != 0,
            window: fp.segment.window,
            mss: mss,
            senderMSS: path.originalMSS.map(Int32.init) ?? mss,
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
        let shape = LayoutShape(key.layout)
        for (n, i) in candidates.enumerated() {
            let (score, exact) = similarity(database.entries[i], key, shape)
            scores[n] = score
            top.offer(Candidate(entryIndex: i, score: score))
            if exact { exactEntries.insert(i) }
        }
        let bestScore = top[0].score
        // Evidence per class: every candidate votes with its label distribution, weighted by
        // how close it comes to the best score.
        var classScores = PerOSClass<Float>(repeating: 0)
        var total: Float = 0
        for (n, i) in candidates.enumerated() {
            let weight = expf(weights.sharpness * (scores[n] - bestScore))
            guard weight > 1e-4 else { continue }
            let entry = database.entries[i]
            guard !entry.counts.isEmpty else {
                classScores[entry.osClass.rawValue] += weight
                total += weight
                continue
            }
            // A learned entry votes with the weight of its evidence: a key seen once counts a
            // third of a curated entry, a key seen 100 times nearly as much, and one pseudo-
            // observation for its own class keeps a tiny sample honest. Curated counts state a
            // prior (macOS:iOS even) and vote in full. Sums are in Float: no count overflows.
            let observed = Float(entry.totalCount)
            let evidence = entry.provenance != .learned ? weight : weight * observed / (observed + MatchWeights.learnedPrior)
            let denominator = entry.provenance != .learned ? observed : observed + 1
            for (osClass, count) in entry.counts where denominator > 0 {
                classScores[osClass.rawValue] += evidence * Float(count) / denominator
            }
            if entry.provenance == .learned { classScores[entry.osClass.rawValue] += evidence / denominator }
            total += evidence
        }
        var familyScores = PerOSFamily<Float>(repeating: 0)
        var leading = OSClass.unknown
        for c in OSClass.labels {
            classScores[c.rawValue] = total > 0 ? classScores[c.rawValue] / total : 0
            familyScores[c.family.rawValue] += classScores[c.rawValue]
            if leading == .unknown || classScores[c.rawValue] > classScores[leading.rawValue] { leading = c }
        }
        var leadingFamily = OSFamily.unknown
        for f in OSFamily.allCases where f != .unknown {
            if leadingFamily == .unknown || familyScores[f.rawValue] > familyScores[leadingFamily.rawValue] { leadingFamily = f }
        }
        let leadingShare = classScores[leading.rawValue]
        let tied = OSClass.labels.first { $0 != leading && leadingShare > 0 && abs(classScores[$0.rawValue] - leadingShare) < 1e-4 }
        let quality = matchQuality(bestScore)
        let confidence = leadingShare * quality
        let familyConfidence = familyScores[leadingFamily.rawValue] * quality
        let bestEntry = database.entries[top[0].entryIndex]
        let kind: MatchKind = bestEntry.generic ? .generic : (exactEntries.contains(top[0].entryIndex) ? .exact : .fuzzy)
        answersComputed += 1
        let decided = confidence >= weights.minConfidence && confidence > 0
        return Classification(
            answerID: answersComputed &* instances &+ instance,
            osClass: decided ? leading : .unknown,
            family: familyConfidence >= weights.minFamilyConfidence && familyConfidence > 0 ? leadingFamily : .unknown,
            confidence: confidence, familyConfidence: familyConfidence, kind: kind,
            classScores: classScores, best: top, tiedClass: decided ? tied : nil)
    }

    /// How well the best entry explains the packet: 1 from a similarity of 0.95 (a stack's
    /// documented variant), falling to 0 at 0.55 (a layout match alone is less).
    func matchQuality(_ score: Float) -> Float {
        min(1, max(0, (score - 0.55) / 0.4))
    }

    /// Weighted similarity in [0, 1], and whether every field the entry constrains matched in full.
    func similarity(_ e: DatabaseEntry, _ k: MatchKey, _ shape: LayoutShape) -> (Float, Bool) {
        let w = weights
        var sum: Float = 0
        var total: Float = 0
        var exact = true
        /// `similarity` nil: the entry leaves the field open (wildcard credit).
        func add(_ weight: Float, _ similarity: Float?) {
            total += weight
            guard let similarity else {
                sum += weight * w.wildcardCredit
                return
            }
            sum += weight * similarity
            if similarity < 1 { exact = false }
        }
        let isV4 = k.ipVersion == 4

        add(w.layout, layoutSimilarity(e.layouts, k, shape))
        add(w.window, choice(e.windows) { $0.allows(window: Int(k.window), senderMSS: Int(k.senderMSS), ipVersion: k.ipVersion) })
        // Without a window scale option the layout has said all there is to say.
        if k.scale >= 0 { add(w.scale, choice(e.scales) { $0.contains(Int(k.scale)) }) }
        switch e.initialTTL {
        case .any: add(w.ttl, nil)
        case .exactly(let ttl): add(w.ttl, k.reachableTTLs & Matcher.ttlBit(ttl) != 0 ? 1 : 0)
        }
        if case .exactly(let mss) = e.mss { add(w.mss, Int32(mss) == k.mss ? 1 : 0) }
        if isV4 {
            switch e.dontFragment {
            case .any: add(w.dontFragment, nil)
            case .exactly(let df): add(w.dontFragment, df == k.dontFragment ? 1 : 0)
            }
            switch e.ipID {
            case .any: add(w.ipID, nil)
            case .zero: add(w.ipID, k.ipID == -1 ? 1 : 0)
            case .nonZero: add(w.ipID, k.ipID != -1 ? 1 : 0)
            case .value(let id): add(w.ipID, k.ipID == Int32(id) ? 1 : 0)
            }
        } else if case .exactly(let flow) = e.flowLabel {
            add(w.flowLabel, flow == k.flowLabel ? 1 : 0)
        }
        switch e.ecn {
        case .any: add(w.ecn, nil)
        case .exactly(let ecn): add(w.ecn, ecn == k.ecn ? 1 : 0)
        }
        if case .exactly(let version) = e.ipVersion { add(w.ipVersion, version == k.ipVersion ? 1 : 0) }
        switch e.quirks {
        case .any: add(w.quirks, nil)
        case .exactly(let quirks):
            let union = quirks.union(k.quirks).rawValue.nonzeroBitCount
            add(w.quirks, union == 0 ? 1 : Float(quirks.intersection(k.quirks).rawValue.nonzeroBitCount) / Float(union))
        }
        return (total > 0 ? sum / total : 0, exact)
    }

    /// Paths only lower the TTL, and rarely by more than 35 hops (p0f's limit too).
    static let maximumHops = 35

    static let initialTTLs: [UInt8] = [32, 64, 128, 255]

    /// For every TTL as it arrives, the initial TTLs within `maximumHops` above it.
    static let reachableTTLMasks: [UInt8] = (0...255).map { observed in
        var mask: UInt8 = 0
        for (bit, initial) in initialTTLs.enumerated() where observed <= Int(initial) && Int(initial) - observed <= maximumHops {
            mask |= 1 << bit
        }
        return mask
    }

    /// The mask bit of an entry's initial TTL (entries only hold the four defaults).
    static func ttlBit(_ initial: UInt8) -> UInt8 {
        initialTTLs.firstIndex(of: initial).map { 1 << $0 } ?? 0
    }

    /// 1 for the entry's first (default) value, the variant credit for a later one, 0 for none;
    /// nil when the entry accepts anything.
    @inline(__always)
    func choice<Value>(_ choices: Choices<Value>, _ matches: (Value) -> Bool) -> Float? {
        guard !choices.isAny else { return nil }
        guard let position = choices.values.firstIndex(where: matches) else { return 0 }
        return position == 0 ? 1 : weights.variantCredit
    }

    /// The stack's own layout (or a listed variant); else the same significant options in the
    /// same order (other padding), else the same set of options.
    func layoutSimilarity(_ layouts: Choices<LayoutPattern>, _ k: MatchKey, _ shape: LayoutShape) -> Float? {
        guard !layouts.isAny else { return nil }
        for (position, pattern) in layouts.values.enumerated() where pattern.layout == k.layout {
            let credit: Float = position == 0 ? 1 : weights.variantCredit
            return pattern.eolPadding == k.eolPadding ? credit : credit * 0.9
        }
        if layouts.values.contains(where: { LayoutIndex.order($0.layout) == shape.order }) { return 0.6 }
        return layouts.values.contains(where: { LayoutIndex.kindSet($0.layout) == shape.kinds }) ? 0.3 : 0
    }
}

/// A packet's layout reduced as the index files entries: computed once per scoring, not per entry.
struct LayoutShape {
    let order: OptionLayout
    let kinds: UInt64

    init(_ layout: OptionLayout) {
        order = LayoutIndex.order(layout)
        kinds = LayoutIndex.kindSet(layout)
    }
}
