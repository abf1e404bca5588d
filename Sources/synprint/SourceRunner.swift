import Capture
import Decode
import Foundation
import Synchronization
import SynprintKit

/// Reads sources one after the other through the default filter: what `capture` and
/// `db build` share. Problems with one source are worded for the user and the next is read.
struct SourceRunner {
    var userFilter: String?
    /// What the filter passes besides SYNs: data segments (requests) or every segment.
    var scope: SynFilter.Scope
    /// Sources that could not be read whole, each said on standard error when it happened.
    private(set) var failures: [String] = []
    private(set) var statistics: CaptureStatistics?

    init(userFilter: String?, scope: SynFilter.Scope) {
        self.userFilter = userFilter
        self.scope = scope
    }

    private mutating func failed(_ failure: String) {
        printError("synprint: \(failure)")
        failures.append(failure)
    }

    /// `handle` returns false to stop; `shouldStop` is asked before each source; `caughtUp` runs
    /// when a live capture has read all it was given, `idle` when it has had nothing for a while.
    mutating func run(
        _ sources: [() throws -> PacketSource], shouldStop: () -> Bool = { false },
        opened: (PacketSource) -> Void = { _ in }, caughtUp: () -> Void = {}, idle: (PacketSource) -> Void = { _ in },
        handle: (Packet, PacketSource) -> Bool
    ) throws {
        for open in sources {
            if shouldStop() || StopSignal.requested { break }
            do {
                let source = try open()
                let filter = SynFilter.expression(vlanTags: source.linkType.carriesVLANTags, user: userFilter, scope: scope)
                do {
                    // A file read for every TCP segment is read without a filter: libpcap runs
                    // filters on files in its interpreter, per packet, and the decoder skips
                    // what is not TCP (counted) as cheaply.
                    if source.isLive || userFilter != nil || scope != .allTCP { try source.setFilter(filter) }
                } catch let error as FilterError {
                    // libpcap cannot filter this link type: read it whole (the decoder skips
                    // what is not a SYN), unless the user's own words had to apply.
                    guard userFilter == nil else {
                        failed("\(source.name): skipped: the filter cannot apply to its link type (\(error.message))")
                        continue
                    }
                    printError("synprint: \(source.name): read without a kernel filter (\(error.message))")
                }
                opened(source)
                var packets = 0
                let end = source.run(shouldStop: { StopSignal.requested }, caughtUp: caughtUp, idle: { idle(source) }) { packet in
                    packets += 1
                    return handle(packet, source)
                }
                statistics = source.statistics()
                switch end {
                case .finished, .stopped: break
                case .truncated(let message):
                    failed("\(source.name): truncated after \(packets) packets (\(message)); the results before the cut are kept")
                case .failed(let message):
                    failed("\(source.name): read error after \(packets) packets: \(message)")
                }
            } catch let error as CaptureError {
                failed(error.description)
            }
        }
    }

    /// libpcap's counts of each capture of a fanout group, as of the end.
    private(set) var captureStatistics: [CaptureStatistics?] = []

    /// The live captures of a fanout group (`--workers` on `-i`), each read on a thread of its
    /// own into its worker's pipeline, until a stop or the `-c` limit; `tick` runs on this
    /// thread every 100 ms with libpcap's counts added up, and each capture's.
    mutating func run(
        fanout sources: [PacketSource], sensor: Sensor, tick: (CaptureStatistics?, [CaptureStatistics?]) -> Void
    ) throws {
        for source in sources {
            let filter = SynFilter.expression(vlanTags: source.linkType.carriesVLANTags, user: userFilter, scope: scope)
            do {
                try source.setFilter(filter)
            } catch let error as FilterError {
                throw CaptureError("\(source.name): cannot install the filter: \(error.message)")
            }
        }
        let counts = Mutex<[CaptureStatistics?]>(Array(repeating: nil, count: sources.count))
        let ends = Mutex<[CaptureEnd?]>(Array(repeating: nil, count: sources.count))
        let done = DispatchGroup()
        for (worker, capture) in sources.enumerated() {
            done.enter()
            let share = CaptureThreadShare(sensor: sensor, source: capture)
            let thread = Thread.named("capture \(worker)") {
                let sensor = share.sensor
                let source = share.source
                var packets = 0
                let end = source.run(
                    shouldStop: { StopSignal.requested || sensor.reachedLimit },
                    caughtUp: { sensor.caughtUp(worker: worker) },
                    idle: {
                        sensor.idle(worker: worker)
                        let statistics = source.statistics()
                        counts.withLock { $0[worker] = statistics }
                    }
                ) { packet in
                    packets += 1
                    if packets & 0xFFF == 0 {
                        let statistics = source.statistics()
                        counts.withLock { $0[worker] = statistics }
                    }
                    return sensor.process(packet, link: source.linkType, worker: worker)
                }
                sensor.captureEnded(worker: worker)
                let statistics = source.statistics()
                counts.withLock { $0[worker] = statistics }
                ends.withLock { $0[worker] = end }
                done.leave()
            }
            thread.start()
        }
        func total() -> CaptureStatistics? {
            counts.withLock { all in
                all.compactMap { $0 }.reduce(nil) { sum, next -> CaptureStatistics? in
                    guard let sum else { return next }
                    return CaptureStatistics(
                        received: sum.received &+ next.received, dropped: sum.dropped &+ next.dropped,
                        interfaceDropped: sum.interfaceDropped &+ next.interfaceDropped)
                }
            }
        }
        while done.wait(timeout: .now() + 0.1) == .timedOut { tick(total(), counts.withLock { $0 }) }
        statistics = total()
        captureStatistics = counts.withLock { $0 }
        for (source, end) in zip(sources, ends.withLock { $0 }) {
            if case .failed(let message)? = end { failed("\(source.name): read error: \(message)") }
        }
    }
}

/// What one fanout capture thread uses. Unchecked Sendable: the source is read on that thread
/// alone, and of the sensor it calls only what is for its own worker (`process(_:link:worker:)`,
/// `idle(worker:)`) and the limit.
private struct CaptureThreadShare: @unchecked Sendable {
    let sensor: Sensor
    let source: PacketSource
}
