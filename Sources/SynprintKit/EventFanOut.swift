import Connections
import FlowStats
import Match
import Verdict

/// Several sinks behind one handler: each event goes to every handler in turn, in the order
/// given, on the output thread. It also raises alerts: a flagged request that the alert limits
/// let through goes to every handler's `handle(alert:)` once, whatever the number of sinks.
public final class EventFanOut: EventHandler, Sendable {
    public let handlers: [EventHandler]
    private let alerts: AlertLimiter?
    /// The handlers whose renderers write the workers' events: they get their text, the
    /// others the events.
    private let rendering: [Int]

    /// `alerts` nil: no alerts are raised (no sink writes them).
    public init(_ handlers: [EventHandler], alerts: AlertLimiter?) {
        self.handlers = handlers
        self.alerts = alerts
        rendering = handlers.indices.filter { handlers[$0].renderer() != nil }
    }

    /// One rendering handler's renderer as it is; several share a worker's text (`RendererGroup`).
    public func renderer() -> EventRenderer? {
        let parts = rendering.compactMap { handlers[$0].renderer() }
        return parts.count > 1 ? RendererGroup(parts) : parts.first
    }

    public func handle(syn: SynObservation) {
        for handler in handlers { handler.handle(syn: syn) }
    }

    public func handle(syn: SynObservation, rendered: UnsafeRawBufferPointer) {
        each(rendered, { $0.handle(syn: syn, rendered: $1) }, or: { $0.handle(syn: syn) })
    }

    public func handle(connection: FollowedConnection, rendered: UnsafeRawBufferPointer) {
        each(rendered, { $0.handle(connection: connection, rendered: $1) }, or: { $0.handle(connection: connection) })
    }

    public func handle(flowWindow: FlowWindow, rendered: UnsafeRawBufferPointer) {
        each(rendered, { $0.handle(flowWindow: flowWindow, rendered: $1) }, or: { $0.handle(flowWindow: flowWindow) })
    }

    public func handle(tls: TLSObservation, rendered: UnsafeRawBufferPointer) {
        each(rendered, { $0.handle(tls: tls, rendered: $1) }, or: { $0.handle(tls: tls) })
    }

    /// An event a worker wrote: each rendering handler's part of its text to that handler, the
    /// event to the others.
    private func each(
        _ text: UnsafeRawBufferPointer, _ withText: (EventHandler, UnsafeRawBufferPointer) -> Void, or withEvent: (EventHandler) -> Void
    ) {
        var next = 0, offset = 0  // the next rendering handler, and where its part starts
        for (i, handler) in handlers.enumerated() {
            guard next < rendering.count, rendering[next] == i else {
                withEvent(handler)
                continue
            }
            next += 1
            withText(handler, rendering.count == 1 ? text : RendererGroup.part(of: text, at: &offset))
        }
    }

    public func handle(request: JudgedRequest) {
        for handler in handlers { handler.handle(request: request) }
        guard request.verdict.flagged, let alerts else { return }
        let observation = request.observation
        guard alerts.allow(observation.syn.fingerprint.ip.source, at: observation.seconds) else { return }
        for handler in handlers { handler.handle(alert: request) }
    }

    public func handle(alert: JudgedRequest) {
        for handler in handlers { handler.handle(alert: alert) }
    }

    public func idle() {
        for handler in handlers { handler.idle() }
    }

    public func handle(status: Sensor.CaptureStatus) {
        for handler in handlers { handler.handle(status: status) }
    }

    public func handle(connection: FollowedConnection) {
        for handler in handlers { handler.handle(connection: connection) }
    }

    public func handle(flowWindow: FlowWindow) {
        for handler in handlers { handler.handle(flowWindow: flowWindow) }
    }

    public func handle(tls: TLSObservation) {
        for handler in handlers { handler.handle(tls: tls) }
    }
}
