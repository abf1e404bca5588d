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
    /// The handler whose renderer writes the workers' events (the first that has one): it gets
    /// their text, the others the events.
    private let rendering: Int?

    /// `alerts` nil: no alerts are raised (no sink writes them).
    public init(_ handlers: [EventHandler], alerts: AlertLimiter?) {
        self.handlers = handlers
        self.alerts = alerts
        rendering = handlers.firstIndex { $0.renderer() != nil }
    }

    public func renderer() -> EventRenderer? { rendering.flatMap { handlers[$0].renderer() } }

    public func handle(syn: SynObservation) {
        for handler in handlers { handler.handle(syn: syn) }
    }

    public func handle(syn: SynObservation, rendered: UnsafeRawBufferPointer) {
        each({ $0.handle(syn: syn, rendered: rendered) }, or: { $0.handle(syn: syn) })
    }

    public func handle(connection: FollowedConnection, rendered: UnsafeRawBufferPointer) {
        each({ $0.handle(connection: connection, rendered: rendered) }, or: { $0.handle(connection: connection) })
    }

    public func handle(flowWindow: FlowWindow, rendered: UnsafeRawBufferPointer) {
        each({ $0.handle(flowWindow: flowWindow, rendered: rendered) }, or: { $0.handle(flowWindow: flowWindow) })
    }

    public func handle(tls: TLSObservation, rendered: UnsafeRawBufferPointer) {
        each({ $0.handle(tls: tls, rendered: rendered) }, or: { $0.handle(tls: tls) })
    }

    /// An event a worker wrote: its text to the rendering handler, the event to the others.
    private func each(_ withText: (EventHandler) -> Void, or withEvent: (EventHandler) -> Void) {
        for (i, handler) in handlers.enumerated() {
            if i == rendering { withText(handler) } else { withEvent(handler) }
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
