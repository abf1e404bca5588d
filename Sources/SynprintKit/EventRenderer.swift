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

/// Several handlers' renderers on one worker (`EventFanOut`): an event's text is each part's
/// text in handler order, each after its length (4 bytes, little-endian).
final class RendererGroup: EventRenderer {
    private let parts: [EventRenderer]

    init(_ parts: [EventRenderer]) { self.parts = parts }

    func render(_ syn: SynObservation, to out: TextBuffer) { each(out) { $0.render(syn, to: out) } }
    func render(_ connection: FollowedConnection, to out: TextBuffer) { each(out) { $0.render(connection, to: out) } }
    func render(_ window: FlowWindow, to out: TextBuffer) { each(out) { $0.render(window, to: out) } }
    func render(_ hello: TLSObservation, to out: TextBuffer) { each(out) { $0.render(hello, to: out) } }

    private func each(_ out: TextBuffer, _ render: (EventRenderer) -> Void) {
        for part in parts {
            let start = out.count
            out.append(littleEndian: UInt32(0))
            render(part)
            out.overwrite(littleEndian: UInt32(out.count - start - 4), at: start)
        }
    }

    /// The next part of a text the group wrote, from `offset`, which moves past it.
    static func part(of text: UnsafeRawBufferPointer, at offset: inout Int) -> UnsafeRawBufferPointer {
        guard offset + 4 <= text.count else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let length = Int(UInt32(littleEndian: text.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        defer { offset += 4 + length }
        return UnsafeRawBufferPointer(rebasing: text[offset + 4..<min(offset + 4 + length, text.count)])
    }
}
