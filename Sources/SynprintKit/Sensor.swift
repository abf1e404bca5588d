import Decode
import Match
import Verdict

/// Receives the sensor's events in capture order, on the output thread (or on the caller's
/// thread for a sensor that is not threaded).
public protocol EventHandler: AnyObject, Sendable {
    func handle(_ event: SensorEvent)
    /// Nothing is queued: a moment to flush buffered output.
    func idle()
}

/// The sensor: the pipeline's stages composed in one place. Packets go in from any capture
/// loop (libpcap in the command line, bytes in a test, another program), and events come out to
/// an `EventHandler`: capture → decode → features → match and path (`PacketPipeline`, on the
/// caller's thread), then the verdict stage's judging side (`VerdictJudge`: host history and
/// verdicts) and the handler on the output thread.
public final class Sensor {
    public let settings: Settings
    public let pipeline: PacketPipeline
    /// The judging side, shared with the lookup APIs; nil when nothing is judged.
    public let judge: VerdictJudge?
    private let output: OutputThread?
    private let consume: @Sendable (CaptureEvent) -> Void
    private let limit: Int?

    /// `database` enables matching (and the path's link names); `judging` follows connections
    /// to their request and judges it (it needs the database). `limit` stops after that many
    /// SYNs and SYN+ACKs. A sensor that is not `threaded` handles each event before `process`
    /// returns (tests, embedding programs with their own threads).
    public init(settings: Settings, database: Database?, judging: Bool, limit: Int? = nil, threaded: Bool = true,
                handler: EventHandler) {
        precondition(!judging || database != nil, "judging needs a database to match against")
        self.settings = settings
        self.limit = limit
        let matcher = database.map { Matcher(database: $0, weights: settings.matchWeights, cacheSize: settings.matchCacheEntries) }
        let tracker = judging ? ConnectionTracker(capacity: settings.maxFlows, timeout: settings.requestTimeout) : nil
        pipeline = PacketPipeline(matcher: matcher, tracker: tracker)
        let judge = judging ? VerdictJudge(
            rules: settings.verdictRules,
            hosts: HostTable(capacity: settings.maxHosts, sharingWindow: settings.sharingWindow,
                             minimumConfidence: settings.verdictRules.minimumConfidence)) : nil
        self.judge = judge
        consume = { event in
            switch event {
            case .syn(let syn):
                if syn.fingerprint.direction == .syn { judge?.record(syn) }
                handler.handle(.syn(syn))
            case .request(let observation):
                guard let judge else { return }
                handler.handle(.http(JudgedRequest(observation: observation, verdict: judge.judge(observation))))
            }
        }
        output = threaded ? OutputThread(batchSize: settings.outputBatchSize, maxBatches: settings.outputBatchesWaiting,
                                         consume: consume, idle: { handler.idle() }) : nil
    }

    public var database: Database? { pipeline.matcher?.database }
    public var counters: PacketCounters { pipeline.counters }
    public var reachedLimit: Bool { limit.map { pipeline.fingerprinted >= $0 } ?? false }

    /// Pass each event to the output thread at once instead of in batches (live captures and
    /// pipes, where a reader waits for each event).
    public var handOverEachEvent: Bool {
        get { output?.handOverEachEvent ?? true }
        set { output?.handOverEachEvent = newValue }
    }

    /// Handles one packet; false once the limit is reached.
    @discardableResult
    public func process(_ packet: Packet, link: LinkType) -> Bool {
        if let event = pipeline.process(packet, link: link) {
            if let output { output.send(event) } else { consume(event) }
        }
        return !reachedLimit
    }

    /// Hands over what is queued and waits until the handler has seen every event.
    public func finish() {
        output?.close()
    }
}
