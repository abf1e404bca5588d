import Capture
import Decode
import Features
import Match
import Output
import Verdict

/// The per-packet pipeline on the capture thread: decode → features → match, and connections
/// followed to their request; the events go to `EventOutput` on the output thread. A packet that is not a SYN costs no
/// allocation; a SYN costs none either once the batches have grown.
final class Sensor {
    var counters = PacketCounters()
    private let matcher: Matcher?
    private let links: LinkTable?
    private let judge: ConnectionJudge?
    private let pipe: EventPipe
    private let limit: Int?

    init(matcher: Matcher?, judge: ConnectionJudge?, pipe: EventPipe, limit: Int?) {
        self.matcher = matcher
        links = matcher.map { LinkTable($0.database.links) }
        self.judge = judge
        self.pipe = pipe
        self.limit = limit
    }

    var fingerprinted: Int { counters.syn + counters.synAck }
    var reachedLimit: Bool { limit.map { fingerprinted >= $0 } ?? false }

    /// Handles one packet; false once `-c` is reached.
    func process(_ packet: CapturedPacket, link: LinkType) -> Bool {
        counters.packets += 1
        switch PacketDecoder.decode(packet.bytes, link: link) {
        case .skipped(let reason):
            counters.count(reason)
        case .malformed(let reason):
            counters.count(reason)
        case .tcp(let segment):
            guard segment.isSYN else {
                counters.count(.notSYN)
                if let judge, let observation = judge.request(
                    in: segment, packet.bytes, seconds: packet.seconds, microseconds: packet.microseconds) {
                    pipe.send(.request(observation))
                }
                return true
            }
            let fingerprint = Fingerprint(segment, in: packet.bytes)
            if fingerprint.direction == .syn { counters.syn += 1 } else { counters.synAck += 1 }
            if fingerprint.quirks.contains(.malformedOptions) { counters.badOptions += 1 }
            let event = SynEvent(seconds: packet.seconds, microseconds: packet.microseconds, fingerprint: fingerprint,
                                 classification: matcher?.classify(fingerprint), link: links?.link(for: fingerprint))
            if let judge, fingerprint.direction == .syn { judge.follow(ObservedSYN(event)) }
            pipe.send(.syn(event))
            return !reachedLimit
        }
        return true
    }
}

/// The output thread's end of the pipeline: the judging side of the verdict stage (host
/// history, verdicts) and the output. Every event is written to the sink; a judged request is
/// also recorded for --learn, and written as an alert when flagged.
final class EventOutput {
    private let judge: ConnectionJudge?
    private let writer: EventWriter
    private let sink: OutputSink
    private let database: Database?
    private let alerts: LineLog?
    private let observations: ObservationLog?
    private let alertLine = TextBuffer(capacity: 4096)
    private(set) var requests = 0
    private(set) var flagged = 0

    init(judge: ConnectionJudge?, format: EventFormat, database: Database?, sink: OutputSink, alerts: LineLog?, observations: ObservationLog?) {
        self.judge = judge
        writer = EventWriter(format: format, database: database)
        self.sink = sink
        self.database = database
        self.alerts = alerts
        self.observations = observations
    }

    func write(_ event: SensorEvent) {
        switch event {
        case .syn(let event):
            if let judge, event.fingerprint.direction == .syn { judge.remember(ObservedSYN(event)) }
            writer.write(event, to: sink.buffer)
            sink.commit()
        case .request(let observation):
            guard let judge else { return }
            report(RequestEvent(observation: observation, verdict: judge.judge(observation)))
        }
    }

    private func report(_ event: RequestEvent) {
        requests += 1
        writer.write(event, to: sink.buffer)
        sink.commit()
        observations?.record(event.observation.syn, event.observation.request, label: event.verdict.claimed, source: "http")
        guard event.verdict.flagged else { return }
        flagged += 1
        if let alerts {
            alertLine.removeAll()
            RequestJSON.write(event, type: "alert", database: database, to: alertLine)
            alerts.write(alertLine)
        }
    }
}

extension ObservedSYN {
    init(_ event: SynEvent) {
        self.init(seconds: event.seconds, microseconds: event.microseconds, fingerprint: event.fingerprint,
                  classification: event.classification, link: event.link)
    }
}
