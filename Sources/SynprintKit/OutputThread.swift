import Foundation

/// The output thread: takes the events of one pipeline's queue, or merges the queues of several
/// workers into capture order, and passes each to the output stage (judging, then the handler).
///
/// The merge: each worker's events come in capture order, keyed by the sequence number of the
/// packet they came from, and each batch promises that the worker's later events have higher
/// keys (`Batch.through`). The lowest key goes first; it waits only for a worker that has
/// nothing queued and has not promised past it. Workers are handed packets in rounds, all at
/// once, so every worker's promise moves with every round and the wait is at most a round.
final class OutputThread: @unchecked Sendable {
    private let queues: [EventQueue]
    private let condition: NSCondition
    private var drained = false

    /// Starts the thread; the queues share one condition.
    init(queues: [EventQueue], stage: OutputStage) {
        precondition(!queues.isEmpty && queues.allSatisfy { $0.condition === queues[0].condition })
        self.queues = queues
        condition = queues[0].condition
        let thread = Thread.named("output") { [self] in
            if queues.count == 1 { run(queues[0], stage) } else { merge(stage) }
            stage.idle()  // everything handled: flush
            condition.lock()
            drained = true
            condition.broadcast()
            condition.unlock()
        }
        thread.start()
    }

    /// Waits until every queue is closed and each of its events handled.
    func join() {
        condition.lock()
        while !drained { condition.wait() }
        condition.unlock()
    }

    private func run(_ queue: EventQueue, _ stage: OutputStage) {
        condition.lock()
        while true {
            guard var batch = queue.takeLocked() else {
                if queue.finishedLocked { break }
                condition.unlock()
                stage.idle()  // nothing queued: a good moment to flush output
                condition.lock()
                while !queue.readyLocked { condition.wait() }
                continue
            }
            condition.unlock()
            for index in batch.events.indices { stage.deliver(index, of: batch) }
            batch.removeAll()
            condition.lock()
            queue.recycleLocked(batch)
        }
        condition.unlock()
    }

    private func merge(_ stage: OutputStage) {
        let n = queues.count
        var current = [EventQueue.Batch?](repeating: nil, count: n)
        var position = [Int](repeating: 0, count: n)
        var through = [Int64](repeating: -1, count: n)
        var finished = [Bool](repeating: false, count: n)
        func remaining(_ i: Int) -> Bool { current[i].map { position[i] < $0.events.count } ?? false }
        func head(_ i: Int) -> Int64 { current[i]!.keys[position[i]] }
        while true {
            // Refill each queue whose batch is used up.
            if (0..<n).contains(where: { !finished[$0] && !remaining($0) }) {
                condition.lock()
                for i in 0..<n where !finished[i] && !remaining(i) {
                    if var used = current[i] {
                        used.removeAll()
                        queues[i].recycleLocked(used)
                        current[i] = nil
                    }
                    if let next = queues[i].takeLocked() {
                        through[i] = next.through
                        position[i] = 0
                        current[i] = next
                    } else if queues[i].finishedLocked {
                        finished[i] = true
                    }
                }
                condition.unlock()
            }
            // The queue with the lowest key (the lower index on a tie), if nothing may come before it.
            var best: Int?
            for i in 0..<n where remaining(i) {
                if let b = best, head(b) <= head(i) { continue }
                best = i
            }
            guard let chosen = best else {
                if finished.allSatisfy({ $0 }) { break }
                wait(stage, for: (0..<n).filter { !finished[$0] && !remaining($0) })
                continue
            }
            var limit = Int64.max
            var blocking: [Int] = []
            for j in 0..<n where j != chosen && !finished[j] {
                let bound = remaining(j) ? (chosen < j ? head(j) : head(j) &- 1) : through[j]
                limit = min(limit, bound)
                if !remaining(j) && through[j] < head(chosen) { blocking.append(j) }
            }
            guard blocking.isEmpty else {
                wait(stage, for: blocking)
                continue
            }
            position[chosen] = deliver(current[chosen]!, from: position[chosen], through: limit, to: stage)
        }
    }

    /// Delivers `batch`'s events from `start` while their keys are at most `limit`; returns the
    /// next position. The batch is borrowed: a copy would retain and release each of its
    /// arrays, at every switch between workers.
    private func deliver(_ batch: borrowing EventQueue.Batch, from start: Int, through limit: Int64, to stage: OutputStage) -> Int {
        var i = start
        while i < batch.events.count && batch.keys[i] <= limit {
            stage.deliver(i, of: batch)
            i += 1
        }
        return i
    }

    /// Flushes the output, then waits until one of `queues` has a batch or is closed.
    private func wait(_ stage: OutputStage, for waiting: [Int]) {
        stage.idle()
        condition.lock()
        while !waiting.contains(where: { queues[$0].readyLocked }) { condition.wait() }
        condition.unlock()
    }
}
