import Connections
import FlowStats
import Formatting
import Match
import Output
import Verdict

/// Writes events as text on the worker that made them (`--workers` above 1), so that the output
/// thread, which every event passes, only copies the text out. Requests are written on the output
/// thread (their verdict is made there), and so are stats events.
public protocol EventRenderer: AnyObject {
    func render(_ syn: SynObservation, to out: TextBuffer)
    func render(_ connection: FollowedConnection, to out: TextBuffer)
    func render(_ window: FlowWindow, to out: TextBuffer)
    func render(_ hello: TLSObservation, to out: TextBuffer)
}

extension EventWriter: EventRenderer {
    public func render(_ syn: SynObservation, to out: TextBuffer) { write(syn, to: out) }
    public func render(_ connection: FollowedConnection, to out: TextBuffer) { write(connection, to: out) }
    public func render(_ window: FlowWindow, to out: TextBuffer) { write(window, to: out) }
    public func render(_ hello: TLSObservation, to out: TextBuffer) { write(hello, to: out) }
}
