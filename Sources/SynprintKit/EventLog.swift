import Formatting
import Match
import Output
import Synchronization
import Verdict

/// The sensor's standard event handler: every event written in one format to the event
/// output; a judged request also recorded for `--learn`, and written to the alert log when
/// flagged. Runs on the output thread.
///
/// Unchecked Sendable: everything but `tally` is touched only by the output thread, which
/// is the one thread the sensor calls a handler on.
public final class EventLog: EventHandler, @unchecked Sendable {
    private let writer: EventWriter
    private let sink: EventSink
    private let database: Database?
    private let alerts: LineLog?
    private let limiter: AlertLimiter?
    private let observations: ObservationLog?
    private let alertLine = TextBuffer(capacity: 4096)
    private let tally = Mutex<(requests: Int, flagged: Int)>((0, 0))

    /// `limiter` holds back alerts over the rate limits (counted, not written).
    public init(
        format: EventFormat, database: Database?, sink: EventSink, alerts: LineLog?, observations: ObservationLog?,
        limiter: AlertLimiter? = nil
    ) {
        self.limiter = limiter
        writer = EventWriter(format: format, database: database)
        self.sink = sink
        self.database = database
        self.alerts = alerts
        self.observations = observations
    }

    /// Requests judged and flagged so far.
    public var requests: Int { tally.withLock { $0.requests } }
    public var flagged: Int { tally.withLock { $0.flagged } }

    public func handle(syn: SynObservation) {
        writer.write(syn, to: sink.buffer)
        sink.commit()
    }

    public func handle(request: JudgedRequest) {
        writer.write(request, to: sink.buffer)
        sink.commit()
        observations?.record(request.observation.syn, request.observation.request, label: request.verdict.claimed, source: "http")
        tally.withLock {
            $0.requests += 1
            if request.verdict.flagged { $0.flagged += 1 }
        }
        guard request.verdict.flagged, let alerts else { return }
        let observation = request.observation
        if let limiter, !limiter.allow(observation.syn.fingerprint.ip.source, at: observation.seconds) { return }
        alertLine.removeAll()
        RequestJSON.write(request, type: "alert", database: database, to: alertLine)
        alerts.write(alertLine)
    }

    public func idle() {
        sink.flush()
    }
}
