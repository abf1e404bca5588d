import Foundation

/// Carries events from the capture thread to one output thread, in order and in batches:
/// judging, formatting and writing (most of the time per SYN) run beside decoding and matching
/// instead of after them. One lock round per batch; at most `maxBatches` batches wait, so a
/// slow output holds the capture back instead of growing memory. Batches are reused.
///
/// Unchecked Sendable: `filling` and `handOverEachEvent` belong to the capture thread alone,
/// the output thread touches only what it is handed; everything shared sits under `condition`.
final class OutputThread: @unchecked Sendable {
    private let batchSize: Int
    private let maxBatches: Int
    private let condition = NSCondition()
    private var waiting: [[CaptureEvent]] = []      // full batches, oldest first
    private var spare: [[CaptureEvent]] = []        // emptied batches to refill
    private var closed = false
    private var drained = false
    private var filling: [CaptureEvent] = []         // the capture thread's own batch
    /// Hand over every event at once (live captures and pipes: a reader sees each event without delay).
    var handOverEachEvent = false

    /// Starts the output thread; `consume` runs there, on each event in order, and `idle`
    /// whenever nothing is queued.
    init(batchSize: Int, maxBatches: Int, consume: @escaping @Sendable (CaptureEvent) -> Void, idle: @escaping @Sendable () -> Void) {
        self.batchSize = batchSize
        self.maxBatches = maxBatches
        filling.reserveCapacity(batchSize)
        let thread = Thread { [self] in run(consume, idle) }
        thread.name = "synprint output"
        thread.start()
    }

    /// Capture thread: queue one event.
    func send(_ event: CaptureEvent) {
        filling.append(event)
        if handOverEachEvent || filling.count == batchSize { handOver() }
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
        guard !filling.isEmpty else { return }
        condition.lock()
        while waiting.count >= maxBatches { condition.wait() }
        waiting.append(filling)
        filling = spare.popLast() ?? []
        condition.broadcast()
        condition.unlock()
        if filling.capacity < batchSize { filling.reserveCapacity(batchSize) }
    }

    private func run(_ consume: (CaptureEvent) -> Void, _ idle: () -> Void) {
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
