import Connections
import FlowStats
import Formatting
import Foundation
import Match
import Output
import Synchronization
import Verdict

/// The sensor's standard event handler: every event written in one format to the event
/// output; a judged request also recorded for `--learn`, and an alert written to the alert
/// log. Runs on the output thread.
///
/// Unchecked Sendable: everything but `tally` is touched only by the output thread, which
/// is the one thread the sensor calls a handler on.
public final class EventLog: EventHandler, @unchecked Sendable {
    private let writer: EventWriter
    private let format: EventFormat
    private let labels: EventLabels
    private let sink: EventSink
    private let database: Database?
    private let alerts: LineLog?
    private let limiter: AlertLimiter?
    private let observations: ObservationLog?
    private let alertLine = TextBuffer(capacity: 4096)
    private let tally = Mutex<(requests: Int, flagged: Int, alerts: Int)>((0, 0, 0))
    /// What the run saw, for `--summary`, the stats and the metrics.
    public let summary: EventSummary

    /// `limiter`'s count of alerts held back goes into the stats events.
    public init(
        format: EventFormat, database: Database?, labels: EventLabels, sink: EventSink, alerts: LineLog?, observations: ObservationLog?,
        limiter: AlertLimiter? = nil
    ) {
        self.limiter = limiter
        summary = EventSummary(database: database)
        writer = EventWriter(format: format, database: database, labels: labels)
        self.format = format
        self.labels = labels
        self.sink = sink
        self.database = database
        self.alerts = alerts
        self.observations = observations
    }

    /// Requests judged and flagged so far.
    public var requests: Int { tally.withLock { $0.requests } }
    public var flagged: Int { tally.withLock { $0.flagged } }
    /// Alert lines written (after the rate limits).
    public var alertsWritten: Int { tally.withLock { $0.alerts } }

    /// A writer of the same format for each worker.
    public func renderer() -> EventRenderer? {
        EventWriter(format: format, database: database, labels: labels)
    }

    public func handle(syn: SynObservation) {
        writer.write(syn, to: sink.buffer)
        written { $0.count(syn) }
    }

    public func handle(syn: SynObservation, rendered: UnsafeRawBufferPointer) {
        sink.buffer.append(bytes: rendered)
        written { $0.count(syn) }
    }

    public func handle(connection: FollowedConnection) {
        writer.write(connection, to: sink.buffer)
        written { $0.count(connection) }
    }

    public func handle(connection: FollowedConnection, rendered: UnsafeRawBufferPointer) {
        sink.buffer.append(bytes: rendered)
        written { $0.count(connection) }
    }

    public func handle(flowWindow: FlowWindow) {
        writer.write(flowWindow, to: sink.buffer)
        written { $0.count(flowWindow) }
    }

    public func handle(flowWindow: FlowWindow, rendered: UnsafeRawBufferPointer) {
        sink.buffer.append(bytes: rendered)
        written { $0.count(flowWindow) }
    }

    /// An event is in the buffer: written out when the buffer is full, and counted.
    private func written(_ count: (EventSummary) -> Void) {
        sink.commit()
        count(summary)
        if summary.snapshotDue { summary.publish() }
    }

    public func handle(tls: TLSObservation) {
        writer.write(tls, to: sink.buffer)
        sink.commit()
    }

    public func handle(tls: TLSObservation, rendered: UnsafeRawBufferPointer) {
        sink.buffer.append(bytes: rendered)
        sink.commit()
    }

    public func handle(request: JudgedRequest) {
        writer.write(request, to: sink.buffer)
        sink.commit()
        summary.count(request)
        observations?.record(request.observation.syn, request.observation.request, label: request.verdict.claimed, source: "http")
        tally.withLock {
            $0.requests += 1
            if request.verdict.flagged { $0.flagged += 1 }
        }
    }

    public func handle(alert request: JudgedRequest) {
        guard let alerts else { return }
        alertLine.removeAll()
        writer.writeAlert(request, to: alertLine)
        alerts.write(alertLine)
        tally.withLock { $0.alerts += 1 }
    }

    /// A `stats` event in the JSON output (`--stats-events`): the capture's counts and the run's.
    public func handle(status: Sensor.CaptureStatus) {
        guard format == .json else { return }
        summary.publish()
        let seen = summary.snapshot
        writer.write(
            status.figures(requests: seen.requests, flagged: seen.flagged, alertsSuppressed: limiter?.suppressed ?? 0), to: sink.buffer)
        sink.commit()
    }

    public func idle() {
        sink.flush()
        summary.publish()
    }
}
