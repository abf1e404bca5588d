import Capture
import Decode
import Features
import Match
import Output
import Verdict

/// The per-packet pipeline: decode → features → match → verdict → output. A packet that is not
/// a SYN costs no allocation; a SYN costs none either once the output buffer has grown.
final class Sensor {
    var counters = PacketCounters()
    private let matcher: Matcher?
    private let links: LinkTable?
    private let judge: ConnectionJudge?
    private let alerts: LineLog?
    private let observations: ObservationLog?
    private let writer: EventWriter
    private let alertLine = TextBuffer(capacity: 4096)
    private let sink: OutputSink
    private let limit: Int?
    private(set) var requests = 0
    private(set) var flagged = 0

    init(matcher: Matcher?, judge: ConnectionJudge?, alerts: LineLog?, observations: ObservationLog?,
         format: EventFormat, sink: OutputSink, limit: Int?) {
        self.matcher = matcher
        links = matcher.map { LinkTable($0.database.links) }
        self.judge = judge
        self.alerts = alerts
        self.observations = observations
        writer = EventWriter(format: format, database: matcher?.database)
        self.sink = sink
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
                if let judge, let (observation, verdict) = judge.segment(
                    segment, in: packet.bytes, seconds: packet.seconds, microseconds: packet.microseconds) {
                    report(RequestEvent(observation: observation, verdict: verdict))
                }
                return true
            }
            let fingerprint = Fingerprint(segment, in: packet.bytes)
            if fingerprint.direction == .syn { counters.syn += 1 } else { counters.synAck += 1 }
            if fingerprint.quirks.contains(.malformedOptions) { counters.badOptions += 1 }
            let event = SynEvent(seconds: packet.seconds, microseconds: packet.microseconds, fingerprint: fingerprint,
                                 classification: matcher?.classify(fingerprint), link: links?.link(for: fingerprint))
            if let judge, fingerprint.direction == .syn {
                judge.opened(ObservedSYN(seconds: event.seconds, microseconds: event.microseconds, fingerprint: fingerprint,
                                         classification: event.classification, link: event.link))
            }
            writer.write(event, to: sink.buffer)
            sink.commit()
            return !reachedLimit
        }
        return true
    }

    /// A judged request: always an event; an alert line too when flagged.
    func report(_ event: RequestEvent) {
        requests += 1
        writer.write(event, to: sink.buffer)
        sink.commit()
        observations?.record(event.observation.syn, event.observation.request, label: event.verdict.claimed, source: "http")
        guard event.verdict.flagged else { return }
        flagged += 1
        if let alerts {
            alertLine.removeAll()
            RequestJSON.write(event, type: "alert", database: matcher?.database, to: alertLine)
            alerts.write(alertLine)
        }
    }
}
