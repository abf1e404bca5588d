import Foundation
import Output
import Verdict

/// What the capture thread hands to the output thread.
enum SensorEvent {
    case syn(SynEvent)
    case request(HTTPObservation)       // judged on the output thread
}

/// Carries events from the capture thread to one output thread, in order and in batches:
/// formatting and writing (most of the time per SYN) run beside decoding and matching
/// instead of after them. One lock round per batch; at most `maxBatches` batches wait, so
/// a slow output holds the capture back instead of growing memory. Batches are reused.
final class EventPipe: @unchecked Sendable {
    static let batchSize = 256
    static let maxBatches = 8

    private let condition = NSCondition()
    private var waiting: [[SensorEvent]] = []      // full batches, oldest first
    private var spare: [[SensorEvent]] = []        // emptied batches to refill
    private var closed = false
    private var drained = false
    private var filling: [SensorEvent] = []         // the capture thread's own batch
    /// Hand over every event at once (live captures and pipes: a reader sees each event without delay).
    var handOverEachEvent = false

    /// Starts the output thread; `consume` runs there, on each event in order.
    init(consume: @escaping (SensorEvent) -> Void, idle: @escaping () -> Void) {
        filling.reserveCapacity(EventPipe.batchSize)
        let thread = Thread { [self] in run(consume, idle) }
        thread.name = "synprint output"
        thread.start()
    }

    /// Capture thread: queue one event.
    func send(_ event: SensorEvent) {
        filling.append(event)
        if handOverEachEvent || filling.count == EventPipe.batchSize { handOver() }
    }

    /// Capture thread: queue what is left, then wait until the output thread has written all.
    func close() {
        handOver()
        condition.lock()
        closed = true
        condition.broadcast()
        while !drained { condition.wait() }
        condition.unlock()
    }

    private func handOver() {
        guard !filling.isEmpty else { return }
        condition.lock()
        while waiting.count >= EventPipe.maxBatches { condition.wait() }
        waiting.append(filling)
        filling = spare.popLast() ?? []
        condition.broadcast()
        condition.unlock()
        if filling.capacity < EventPipe.batchSize { filling.reserveCapacity(EventPipe.batchSize) }
    }

    private func run(_ consume: (SensorEvent) -> Void, _ idle: () -> Void) {
        condition.lock()
        while true {
            if waiting.isEmpty {
                if closed { break }
                condition.unlock()
                idle()                       // nothing queued: a good moment to flush output
                condition.lock()
                while waiting.isEmpty && !closed { condition.wait() }
                continue
            }
            var batch = waiting.removeFirst()
            condition.broadcast()
            condition.unlock()
            batch.withUnsafeBufferPointer { events in for i in events.indices { consume(events[i]) } }   // in place, no copy
            batch.removeAll(keepingCapacity: true)
            condition.lock()
            spare.append(batch)
        }
        drained = true
        condition.broadcast()
        condition.unlock()
    }
}
