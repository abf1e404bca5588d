import Connections
import FlowStats
import Formatting
import Match
import Output
import SynprintKit
import Verdict

/// The fleet store's rows written on a worker (`--workers` above 1): each event's row but for
/// its sensor and `event_id`, which the sink writes in the merged order (`StoreSink`). An event
/// of a connection the sample leaves out gets no text at all. One per worker: the rows' buffers
/// are its own.
final class StoreRenderer: EventRenderer {
    private let rows: StoreRows
    private let sample: ConnectionSample

    init(rows: StoreRows, sample: ConnectionSample) {
        self.rows = rows
        self.sample = sample
    }

    func render(_ syn: SynObservation, to out: TextBuffer) {
        guard sample.keeps(syn) else { return }
        rows.write(syn, to: out)
    }

    func render(_ connection: FollowedConnection, to out: TextBuffer) {
        guard sample.keeps(connection) else { return }
        rows.write(connection, to: out)
    }

    /// Flow windows are kept whatever the sample.
    func render(_ window: FlowWindow, to out: TextBuffer) { rows.write(window, to: out) }

    func render(_ hello: TLSObservation, to out: TextBuffer) {
        guard sample.keeps(hello) else { return }
        rows.write(hello, to: out)
    }
}
