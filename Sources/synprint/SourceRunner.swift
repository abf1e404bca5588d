import Capture
import Decode
import SynprintKit

/// Reads sources one after the other through the default filter: what `capture` and
/// `db build` share. Problems with one source are worded for the user and the next is read.
struct SourceRunner {
    var userFilter: String?
    /// Pass data segments too (to follow connections to their HTTP request).
    var payload: Bool
    private(set) var failures: [String] = []
    private(set) var statistics: CaptureStatistics?

    /// `handle` returns false to stop; `shouldStop` is asked before each source.
    mutating func run(
        _ sources: [() throws -> PacketSource], shouldStop: () -> Bool = { false },
        opened: (PacketSource) -> Void = { _ in },
        handle: (Packet, PacketSource) -> Bool
    ) throws {
        for open in sources {
            if shouldStop() || StopSignal.requested { break }
            do {
                let source = try open()
                try source.setFilter(SynFilter.expression(vlanTags: source.linkType.carriesVLANTags, user: userFilter, payload: payload))
                opened(source)
                var packets = 0
                let end = source.run(shouldStop: { StopSignal.requested }) { packet in
                    packets += 1
                    return handle(packet, source)
                }
                statistics = source.statistics()
                switch end {
                case .finished, .stopped: break
                case .truncated(let message):
                    failures.append("\(source.name): truncated after \(packets) packets (\(message)); the results before the cut are kept")
                case .failed(let message):
                    failures.append("\(source.name): read error after \(packets) packets: \(message)")
                }
            } catch let error as FilterError {
                // A bad filter is the same for every source: stop at once.
                throw Failure("bad filter \"\(userFilter ?? "")\": \(error.message)")
            } catch let error as CaptureError {
                failures.append(error.description)
            }
        }
    }
}
