import Connections
import Decode
import FlowStats
import Formatting
import Foundation
import Match
import Verdict

/// Carries events from one pipeline (the capture thread, or one worker) to the output thread, in
/// order and in batches: judging, formatting and writing (most of the time per SYN) run beside
/// decoding and matching instead of after them. One lock round per batch; at most `maxBatches`
/// batches wait, so a slow output holds the pipeline back instead of growing memory. Batches are
/// reused.
///
/// A batch keeps what its events carry in arrays of plain values by type (requests hold
/// strings), so that queuing and handing over a SYN is a copy of bytes, not a call per field.
///
/// Unchecked Sendable: `filling`, `key` and the delivery switches belong to the producing thread
/// alone, the output thread touches only what it is handed; everything shared sits under
/// `condition`, which the queues of one output thread share.
final class EventQueue: PipelineEvents, @unchecked Sendable {
    /// Events in order; what they carry waits in the batch's typed arrays, so that an event is
    /// a few bytes and the many small ones (entropy samples) do not move the size of the largest.
    enum Queued {
        case syn(Int)  // position in the batch's `syns`
        case request(Int)  // position in the batch's `requests`
        case established(IPAddress)
        case status(Int)  // position in the batch's `statuses`
        case connection(Int)  // position in the batch's `connections`
        case flowWindow(Int)  // position in the batch's `windows`
        case hello(Int)  // position in the batch's `hellos`
        /// A payload for a window's entropy: its bytes at `start` in the batch's `samples`.
        case entropySample(window: UInt32, upstream: Bool, start: Int32, count: Int16)
        case entropyDiscard(window: UInt32)
    }

    struct Batch {
        var events: [Queued] = []
        /// With several workers, each event's place in capture order (the sequence number of the
        /// packet it came from), for the merge; empty for a single pipeline.
        var keys: [Int64] = []
        /// With several workers: every later event of this queue has a key above this.
        var through: Int64 = 0
        var syns: [SynObservation] = []
        var requests: [HTTPObservation] = []
        var statuses: [Sensor.CaptureStatus] = []
        var connections: [FollowedConnection] = []
        var windows: [FlowWindow] = []
        var hellos: [TLSObservation] = []
        var samples: [UInt8] = []
        /// With a renderer: the text of the events it wrote, and where each event's text ends
        /// (one entry per event; an event it did not write has none).
        var text = TextBuffer(capacity: 0)
        var textEnds: [Int32] = []

        /// The text of event `index`, when it was rendered.
        func withText<R>(of index: Int, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
            guard index < textEnds.count else { return body(nil) }
            let start = index == 0 ? 0 : Int(textEnds[index - 1]), end = Int(textEnds[index])
            guard end > start else { return body(nil) }
            return text.withBytes { body(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
        }

        mutating func removeAll() {
            events.removeAll(keepingCapacity: true)
            keys.removeAll(keepingCapacity: true)
            syns.removeAll(keepingCapacity: true)
            connections.removeAll(keepingCapacity: true)
            windows.removeAll(keepingCapacity: true)
            hellos.removeAll(keepingCapacity: true)
            requests.removeAll(keepingCapacity: true)
            statuses.removeAll(keepingCapacity: true)
            samples.removeAll(keepingCapacity: true)
            text.removeAll()
            textEnds.removeAll(keepingCapacity: true)
        }
    }

    private let batchSize: Int
    private let maxBatches: Int
    let condition: NSCondition
    private var waiting: [Batch] = []  // full batches, oldest first
    private var spare: [Batch] = []  // emptied batches to refill
    private(set) var closed = false
    private var filling = Batch()  // the producer's own batch
    /// Events dropped because a stop was asked for while the output stalled.
    private(set) var droppedAtStop = 0
    /// Hand over every event at once (pipes and FIFOs, whose reader waits for each event).
    var handOverEachEvent = false
    /// Hand over a batch once its first event is this many seconds old (live captures: prompt
    /// output without a lock round per event); the capture loop also calls `flush` when idle.
    var promptInterval: Double?
    private var fillingSince = 0.0
    /// Workers: the capture-order key of the events queued now (nil for a single pipeline).
    var key: Int64?
    /// Workers: writes the text of the events it can (`EventRenderer`) as they are queued.
    var renderer: EventRenderer?

    init(batchSize: Int, maxBatches: Int, condition: NSCondition) {
        self.batchSize = batchSize
        self.maxBatches = maxBatches
        self.condition = condition
        filling.events.reserveCapacity(batchSize)
    }

    /// Queue one SYN.
    func send(_ syn: SynObservation) {
        renderer?.render(syn, to: filling.text)
        filling.syns.append(syn)
        append(.syn(filling.syns.count - 1))
    }

    /// Queue one request.
    func send(_ request: HTTPObservation) {
        filling.requests.append(request)
        append(.request(filling.requests.count - 1))
    }

    /// A status for the handler, handed over at once.
    func send(status: Sensor.CaptureStatus) {
        filling.statuses.append(status)
        queue(.status(filling.statuses.count - 1))
        handOver()
    }

    /// Queue one connection's ClientHello.
    func send(hello: TLSObservation) {
        renderer?.render(hello, to: filling.text)
        filling.hellos.append(hello)
        append(.hello(filling.hellos.count - 1))
    }

    /// Queue one ended connection.
    func send(connection: FollowedConnection) {
        renderer?.render(connection, to: filling.text)
        filling.connections.append(connection)
        append(.connection(filling.connections.count - 1))
    }

    /// Queue one closed flow-statistics window.
    func send(window: FlowWindow) {
        renderer?.render(window, to: filling.text)
        filling.windows.append(window)
        append(.flowWindow(filling.windows.count - 1))
    }

    /// Entropy work for the output thread; a payload is copied (at most `ByteEntropy.maxBytes`,
    /// all the entropy reads) into the batch's sample bytes.
    func send(entropy work: FlowStatistics.EntropyWork) {
        switch work {
        case .sample(let window, let upstream, let payload):
            let kept = UnsafeRawBufferPointer(rebasing: payload.prefix(ByteEntropy.maxBytes))
            let start = Int32(filling.samples.count)
            filling.samples.append(contentsOf: kept)
            append(.entropySample(window: window, upstream: upstream, start: start, count: Int16(kept.count)))
        case .discard(let window):
            append(.entropyDiscard(window: window))
        }
    }

    /// A client that sent data.
    func send(established address: IPAddress) {
        append(.established(address))
    }

    /// One event into the batch being filled, with its key and the end of its text.
    @inline(__always)
    private func queue(_ event: Queued) {
        filling.events.append(event)
        if let key { filling.keys.append(key) }
        if renderer != nil { filling.textEnds.append(Int32(filling.text.count)) }
    }

    @inline(__always)
    private func append(_ event: Queued) {
        queue(event)
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

    /// Hand over what is queued now (the capture is idle).
    func flush() {
        handOver()
    }

    /// Workers: hand over what is queued with the promise that every later event has a key above
    /// `through`, even when nothing is queued, so that the merge can go on past this queue.
    func flush(through: Int64) {
        filling.through = through
        handOver(evenEmpty: true)
    }

    /// Queue what is left; the producer sends nothing after this.
    func close() {
        handOver()
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    private func handOver(evenEmpty: Bool = false) {
        guard evenEmpty || !filling.events.isEmpty else { return }
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

    /// Output thread, holding `condition`: the oldest waiting batch.
    func takeLocked() -> Batch? {
        guard !waiting.isEmpty else { return nil }
        condition.broadcast()  // room for the producer
        return waiting.removeFirst()
    }

    /// Output thread, holding `condition`: an emptied batch for the producer to refill.
    func recycleLocked(_ batch: Batch) {
        spare.append(batch)
    }

    /// Output thread, holding `condition`: closed, and every batch taken.
    var finishedLocked: Bool { closed && waiting.isEmpty }

    /// Output thread, holding `condition`: a batch waits, or none ever will.
    var readyLocked: Bool { closed || !waiting.isEmpty }
}

extension OutputStage {
    /// Passes queued event `index` of `batch` on: the judging side, the entropy, the handler.
    @inline(__always)
    func deliver(_ index: Int, of batch: borrowing EventQueue.Batch) {
        switch batch.events[index] {
        case .syn(let position): batch.withText(of: index) { handle(batch.syns[position], rendered: $0) }
        case .request(let position): handle(batch.requests[position])
        case .established(let address): established(address)
        case .status(let position): status(batch.statuses[position])
        case .connection(let position): batch.withText(of: index) { handle(batch.connections[position], rendered: $0) }
        case .flowWindow(let position): batch.withText(of: index) { handle(batch.windows[position], rendered: $0) }
        case .hello(let position): batch.withText(of: index) { handle(batch.hellos[position], rendered: $0) }
        case .entropySample(let window, let upstream, let start, let count):
            batch.samples.withUnsafeBytes { bytes in
                let payload = UnsafeRawBufferPointer(rebasing: bytes[Int(start)..<Int(start) + Int(count)])
                entropy?.perform(.sample(window: window, upstream: upstream, payload: payload))
            }
        case .entropyDiscard(let window): entropy?.perform(.discard(window: window))
        }
    }
}
