import Connections
import Decode
import FlowStats
import Foundation
import Match
import Verdict

/// Carries events from the capture thread to one output thread, in order and in batches:
/// judging, formatting and writing (most of the time per SYN) run beside decoding and matching
/// instead of after them. One lock round per batch; at most `maxBatches` batches wait, so a
/// slow output holds the capture back instead of growing memory. Batches are reused.
///
/// A batch keeps what its events carry in arrays of plain values by type (requests hold
/// strings), so that queuing and handing over a SYN is a copy of bytes, not a call per field.
///
/// Unchecked Sendable: `filling` and `handOverEachEvent` belong to the capture thread alone,
/// the output thread touches only what it is handed; everything shared sits under `condition`.
final class OutputThread: @unchecked Sendable {
    /// Events in order; what they carry waits in the batch's typed arrays, so that an event is
    /// a few bytes and the many small ones (entropy samples) do not move the size of the largest.
    enum Queued {
        case syn(Int)  // position in the batch's `syns`
        case request(Int)  // position in the batch's `requests`
        case established(IPAddress)
        case status(Int)  // position in the batch's `statuses`
        case connection(Int)  // position in the batch's `connections`
        case flowWindow(Int)  // position in the batch's `windows`
        /// A payload for a window's entropy: its bytes at `start` in the batch's `samples`.
        case entropySample(window: UInt32, upstream: Bool, start: Int32, count: Int16)
        case entropyDiscard(window: UInt32)
    }

    struct Batch {
        var events: [Queued] = []
        var syns: [SynObservation] = []
        var requests: [HTTPObservation] = []
        var statuses: [Sensor.CaptureStatus] = []
        var connections: [FollowedConnection] = []
        var windows: [FlowWindow] = []
        var samples: [UInt8] = []

        mutating func removeAll() {
            events.removeAll(keepingCapacity: true)
            syns.removeAll(keepingCapacity: true)
            connections.removeAll(keepingCapacity: true)
            windows.removeAll(keepingCapacity: true)
            requests.removeAll(keepingCapacity: true)
            statuses.removeAll(keepingCapacity: true)
            samples.removeAll(keepingCapacity: true)
        }
    }

    private let batchSize: Int
    private let maxBatches: Int
    private let condition = NSCondition()
    private var waiting: [Batch] = []  // full batches, oldest first
    private var spare: [Batch] = []  // emptied batches to refill
    private var closed = false
    private var drained = false
    private var filling = Batch()  // the capture thread's own batch
    /// Events dropped because a stop was asked for while the output stalled.
    private(set) var droppedAtStop = 0
    /// Hand over every event at once (pipes and FIFOs, whose reader waits for each event).
    var handOverEachEvent = false
    /// Hand over a batch once its first event is this many seconds old (live captures: prompt
    /// output without a lock round per event); the capture loop also calls `flush` when idle.
    var promptInterval: Double?
    private var fillingSince = 0.0

    /// Starts the output thread, which passes every event in order to `stage`.
    init(batchSize: Int, maxBatches: Int, stage: OutputStage) {
        self.batchSize = batchSize
        self.maxBatches = maxBatches
        filling.events.reserveCapacity(batchSize)
        let thread = Thread { [self] in run(stage) }
        thread.name = "synprint output"
        thread.start()
    }

    /// Capture thread: queue one SYN.
    func send(_ syn: SynObservation) {
        filling.syns.append(syn)
        filling.events.append(.syn(filling.syns.count - 1))
        queued()
    }

    /// Capture thread: queue one request.
    func send(_ request: HTTPObservation) {
        filling.requests.append(request)
        filling.events.append(.request(filling.requests.count - 1))
        queued()
    }

    /// Capture thread: a status for the handler, handed over at once.
    func send(status: Sensor.CaptureStatus) {
        filling.statuses.append(status)
        filling.events.append(.status(filling.statuses.count - 1))
        handOver()
    }

    /// Capture thread: queue one ended connection.
    func send(connection: FollowedConnection) {
        filling.connections.append(connection)
        filling.events.append(.connection(filling.connections.count - 1))
        queued()
    }

    /// Capture thread: queue one closed flow-statistics window.
    func send(window: FlowWindow) {
        filling.windows.append(window)
        filling.events.append(.flowWindow(filling.windows.count - 1))
        queued()
    }

    /// Capture thread: entropy work for the output thread; a payload is copied (at most
    /// `ByteEntropy.maxBytes`, all the entropy reads) into the batch's sample bytes.
    func send(entropy work: FlowStatistics.EntropyWork) {
        switch work {
        case .sample(let window, let upstream, let payload):
            let kept = UnsafeRawBufferPointer(rebasing: payload.prefix(ByteEntropy.maxBytes))
            let start = Int32(filling.samples.count)
            filling.samples.append(contentsOf: kept)
            filling.events.append(.entropySample(window: window, upstream: upstream, start: start, count: Int16(kept.count)))
        case .discard(let window):
            filling.events.append(.entropyDiscard(window: window))
        }
        queued()
    }

    /// Capture thread: a client that sent data.
    func send(established address: IPAddress) {
        filling.events.append(.established(address))
        queued()
    }

    @inline(__always)
    private func queued() {
        if handOverEachEvent || filling.events.count == batchSize {
            handOver()
        } else if let promptInterval {
            let now = monotonicSeconds()
            if filling.events.count == 1 {
                fillingSince = now
            } else if now - fillingSince >= promptInterval {
                handOver()
            }
        }
    }

    /// Capture thread: hand over what is queued now (the capture is idle).
    func flush() {
        handOver()
    }

    /// Capture thread: queue what is left, then wait until the output thread has handled all.
    func close() {
        handOver()
        condition.lock()
        closed = true
        condition.broadcast()
        while !drained { condition.wait() }
        condition.unlock()
    }

    private func handOver() {
        guard !filling.events.isEmpty else { return }
        condition.lock()
        var deadline: Date?
        while waiting.count >= maxBatches {
            // A stalled output must not hold a requested stop for long: drop the batch instead.
            if StopSignal.requested {
                let end = deadline ?? Date(timeIntervalSinceNow: OutputFile.stopGrace)
                deadline = end
                if Date() >= end {
                    droppedAtStop += filling.events.count
                    filling.removeAll()
                    condition.unlock()
                    return
                }
            }
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.1))
        }
        waiting.append(filling)
        filling = spare.popLast() ?? Batch()
        condition.broadcast()
        condition.unlock()
        if filling.events.capacity < batchSize { filling.events.reserveCapacity(batchSize) }
    }

    private func run(_ stage: OutputStage) {
        condition.lock()
        while true {
            if waiting.isEmpty {
                if closed { break }
                condition.unlock()
                stage.idle()  // nothing queued: a good moment to flush output
                condition.lock()
                while waiting.isEmpty && !closed { condition.wait() }
                continue
            }
            var batch = waiting.removeFirst()
            condition.broadcast()
            condition.unlock()
            batch.events.withUnsafeBufferPointer { events in  // in place, no copy of the array
                for i in events.indices {
                    switch events[i] {
                    case .syn(let position): stage.handle(batch.syns[position])
                    case .request(let position): stage.handle(batch.requests[position])
                    case .established(let address): stage.established(address)
                    case .status(let position): stage.status(batch.statuses[position])
                    case .connection(let position): stage.handler.handle(connection: batch.connections[position])
                    case .flowWindow(let position): stage.handle(batch.windows[position])
                    case .entropySample(let window, let upstream, let start, let count):
                        batch.samples.withUnsafeBytes { bytes in
                            let payload = UnsafeRawBufferPointer(rebasing: bytes[Int(start)..<Int(start) + Int(count)])
                            stage.entropy?.perform(.sample(window: window, upstream: upstream, payload: payload))
                        }
                    case .entropyDiscard(let window): stage.entropy?.perform(.discard(window: window))
                    }
                }
            }
            batch.removeAll()
            condition.lock()
            spare.append(batch)
        }
        drained = true
        condition.broadcast()
        condition.unlock()
    }
}
