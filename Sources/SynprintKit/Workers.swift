import Connections
import Decode
import FlowStats
import Foundation
import Match
import Synchronization
import Tables
import Verdict

/// Several pipelines, each on a thread of its own (`--workers`), fed by the capture thread: it
/// decodes each packet only far enough to find its client, copies it into that client's
/// worker's share of the current round, and hands a round to every worker at once. Each worker
/// owns a whole pipeline (decode, features, matcher and its cache, connections awaiting a
/// request, connection records, flow statistics) with its share of the memory budget, and sends
/// its events to its own queue; the output thread merges the queues in capture order.
///
/// Every packet of a client goes to one worker: the client is the endpoint with the higher port
/// (the ephemeral one), the same for both directions of a connection. Capture time is shared
/// too: when a packet makes the tables' periodic sweep due, every worker sweeps at that time,
/// so that connections and windows end as they would in one pipeline.
///
/// Unchecked Sendable: `rounds` and the counters belong to the capture thread; the workers'
/// inboxes and published statuses sit under `condition`.
final class Workers: @unchecked Sendable {
    /// One worker's share of a round: packets copied into `bytes`, in capture order.
    struct Round {
        enum Entry {
            case packet(sequence: Int64, seconds: Int, microseconds: Int32, start: Int32, count: Int32)
            /// Capture time reached `now` on another worker's packet, when a sweep was due.
            case tick(sequence: Int64, now: Int64)
            case status(sequence: Int64, position: Int)
        }
        var entries: [Entry] = []
        var bytes: [UInt8] = []
        var statuses: [Sensor.CaptureStatus] = []
        var link = LinkType.ethernet
        /// The sequence number of the round's last packet, over all workers.
        var through: Int64 = 0
        /// The capture ended: hand over every record and window after this round.
        var last = false

        mutating func removeAll() {
            entries.removeAll(keepingCapacity: true)
            bytes.removeAll(keepingCapacity: true)
            statuses.removeAll(keepingCapacity: true)
            last = false
        }
    }

    final class Worker: @unchecked Sendable {
        let pipeline: PacketPipeline
        let queue: EventQueue
        var inbox: [Round] = []  // under the pool's condition
        var spare: [Round] = []  // under the pool's condition
        var status = Sensor.CaptureStatus()  // under the pool's condition
        /// Captures of their own: the latest capture time seen, and packets since the last promise.
        var latest: Int64 = 0
        var sincePromise = 0

        init(pipeline: PacketPipeline, queue: EventQueue) {
            self.pipeline = pipeline
            self.queue = queue
        }
    }

    let workers: [Worker]
    private let condition = NSCondition()
    private let roundPackets: Int
    private let roundsWaiting: Int
    private let seed = Int.random(in: Int.min...Int.max)
    private var rounds: [Round]
    private var pending = 0
    private var sequence: Int64 = 0
    private var lastSweeps: (connections: Int64, flows: Int64) = (0, 0)
    private let sweeps: Bool
    private var roundSince = 0.0
    private var roundLink = LinkType.ethernet
    private var running: Int
    /// SYNs and SYN+ACKs handed to the workers (the `-c` limit counts them here).
    private var dispatched = 0
    var fingerprinted: Int { ownCaptures ? fingerprintedByCaptures.load(ordering: .relaxed) : dispatched }
    var packets: Int { Int(sequence) }
    /// Packets not handed over because a stop was asked for while the workers stalled.
    private(set) var droppedAtStop = 0
    /// Hand a round over with every packet (pipes and FIFOs), or once its first packet is this
    /// many seconds old (live captures).
    var handOverEachPacket = false
    var promptInterval: Double?

    /// Workers with captures of their own (an AF_PACKET fanout group) are fed by their own
    /// capture threads (`capture(_:link:worker:)`) instead of the caller's; their events are
    /// keyed by capture time, and each promises every so often that nothing earlier than its
    /// latest packet less `captureWindow` will follow (on an idle link, than the clock less it).
    let ownCaptures: Bool
    /// Microseconds a worker's events may trail another's in the merged output (own captures).
    static let captureWindow: Int64 = 50_000
    private let fingerprintedByCaptures = Atomic<Int>(0)
    private let pendingStatus = Mutex<Sensor.CaptureStatus?>(nil)

    /// Starts one thread per pipeline (none with `ownCaptures`); `sweeps`: the pipelines keep
    /// connection records or flow statistics, which sweep their tables on capture time.
    init(
        pipelines: [PacketPipeline], queues: [EventQueue], sweeps: Bool, roundPackets: Int, roundsWaiting: Int,
        routes: Int, ownCaptures: Bool = false
    ) {
        self.ownCaptures = ownCaptures
        exceptions = BoundedTable(capacity: routes)
        opened = [UInt32](repeating: 0, count: 1 << (Int.bitWidth - max(routes - 1, 1).leadingZeroBitCount))
        workers = zip(pipelines, queues).map { Worker(pipeline: $0, queue: $1) }
        self.sweeps = sweeps
        self.roundPackets = max(roundPackets, 1)
        self.roundsWaiting = max(roundsWaiting, 1)
        rounds = Array(repeating: Round(), count: pipelines.count)
        running = pipelines.count
        for (index, worker) in workers.enumerated() where !ownCaptures {
            let thread = Thread.named("worker \(index)") { [self] in work(worker) }
            thread.start()
        }
    }

    /// The worker of a segment's client: all of a client's packets, both ways, go to the same one.
    /// The client is the sender of the connection's SYN; without one at hand, the endpoint with
    /// the higher port (the ephemeral one: the same answer both ways). A SYN whose sender has
    /// the lower port is remembered, so that the rest of its connection follows it, unless the
    /// other end opened that connection first (a SYN within a connection, as one pipeline sees it).
    @inline(__always)
    func worker(of s: TCPSegment) -> Int {
        if let worker = recalled(s) { return worker }
        let byPort = s.fromHigherPort ? s.ip.source : s.ip.destination
        if s.isSYN && !s.flags.contains(.ack) {
            let hash = FlowKey(s).unordered._rawHashValue(seed: seed)
            let slot = hash & (opened.count - 1), tag = UInt32(truncatingIfNeeded: hash >> 32) | 1
            if byPort == s.ip.source {
                opened[slot] = tag
            } else if opened[slot] != tag {
                let worker = worker(of: s.ip.source)
                remember(s, worker: worker)
                return worker
            }
        }
        return worker(of: byPort)
    }

    @inline(__always)
    private func worker(of client: IPAddress) -> Int {
        Int(UInt(bitPattern: client._rawHashValue(seed: seed)) % UInt(workers.count))
    }

    /// Connections whose client has the lower port, and their worker, the oldest forgotten first
    /// (its later packets then go by port); a bit per such client port, so that a packet whose
    /// lower port has none costs no lookup.
    private var exceptions: BoundedTable<FlowKey, Int>
    /// Connections lately opened from the higher port, by a tag of their hash in a slot of it
    /// (a newer connection in the same slot forgets the older: its later SYNs from the lower
    /// port then open an exception, as before).
    private var opened: [UInt32]
    private var exceptionPorts = [UInt64](repeating: 0, count: 1024)
    /// Lower-port connections forgotten to make room (their later packets went by port).
    private(set) var forgotten = 0
    /// A remembered exception, and up to two slots of `opened`.
    static let bytesPerRoute = BoundedTable<FlowKey, Int>.bytesPerEntry + 2 * MemoryLayout<UInt32>.stride

    private func remember(_ s: TCPSegment, worker: Int) {
        _ = exceptions.place(worker, for: FlowKey(s).unordered) { _, _ in forgotten += 1 }
        exceptionPorts[Int(s.sourcePort >> 6)] |= 1 << (s.sourcePort & 63)
    }

    @inline(__always)
    private func recalled(_ s: TCPSegment) -> Int? {
        let port = min(s.sourcePort, s.destinationPort)
        guard exceptionPorts[Int(port >> 6)] & 1 << (port & 63) != 0 else { return nil }
        return exceptions[FlowKey(s).unordered]
    }

    /// Capture thread: one packet to its client's worker.
    @inline(__always)
    func dispatch(_ packet: Packet, link: LinkType) {
        sequence += 1
        var target = Int(sequence % Int64(workers.count))  // what no worker decodes further: spread
        if case .tcp(let segment) = PacketDecoder.decode(packet.bytes, link: link) {
            target = worker(of: segment)
            if segment.isSYN { dispatched += 1 }
            if sweeps { tick(Int64(packet.seconds) &* 1_000_000 &+ Int64(packet.microseconds), except: target) }
        }
        if link != roundLink {  // a round is read with one link type
            flush()
            roundLink = link
        }
        let start = Int32(rounds[target].bytes.count)
        rounds[target].bytes.append(contentsOf: packet.bytes)
        rounds[target].entries.append(
            .packet(
                sequence: sequence, seconds: packet.seconds, microseconds: Int32(packet.microseconds), start: start,
                count: Int32(packet.bytes.count)))
        pending += 1
        if handOverEachPacket || pending >= roundPackets {
            handOver()
        } else if let promptInterval {
            let now = monotonicSeconds()
            if pending == 1 {
                roundSince = now
            } else if now - roundSince >= promptInterval {
                handOver()
            }
        }
    }

    /// The sweeps one pipeline would run at `now`, run by every other worker at the same point.
    @inline(__always)
    private func tick(_ now: Int64, except target: Int) {
        let connectionsDue = now - lastSweeps.connections >= ConnectionFollower.sweepInterval
        let flowsDue = now - lastSweeps.flows >= FlowStatistics.sweepInterval
        guard connectionsDue || flowsDue else { return }
        if connectionsDue { lastSweeps.connections = now }
        if flowsDue { lastSweeps.flows = now }
        for i in rounds.indices where i != target { rounds[i].entries.append(.tick(sequence: sequence, now: now)) }
    }

    /// Capture thread: a status for the handler, in order with the packets around it (with own
    /// captures, the first worker's thread passes it on at its next promise).
    func send(status: Sensor.CaptureStatus) {
        if ownCaptures {
            pendingStatus.withLock { $0 = status }
            return
        }
        rounds[0].statuses.append(status)
        rounds[0].entries.append(.status(sequence: sequence, position: rounds[0].statuses.count - 1))
        handOver()
    }

    /// Capture thread: hand the round to the workers now (the capture is idle).
    func flush() {
        if pending > 0 { handOver() }
    }

    /// Capture thread: the last round; returns once every worker has handed over its records
    /// and windows and closed its queue.
    func finish() {
        for i in rounds.indices { rounds[i].last = true }
        handOver(force: true)
        condition.lock()
        while running > 0 { condition.wait() }
        condition.unlock()
    }

    private func handOver(force: Bool = false) {
        guard force || pending > 0 || rounds.contains(where: { !$0.entries.isEmpty }) else { return }
        condition.lock()
        var deadline: Date?
        while workers.contains(where: { $0.inbox.count >= roundsWaiting }) {
            // Stalled workers must not hold a requested stop for long: drop the round instead.
            if StopSignal.requested && !force {
                let end = deadline ?? Date(timeIntervalSinceNow: OutputFile.stopGrace)
                deadline = end
                if Date() >= end {
                    droppedAtStop += pending
                    pending = 0
                    for i in rounds.indices { rounds[i].removeAll() }
                    condition.unlock()
                    return
                }
            }
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.1))
        }
        for (i, worker) in workers.enumerated() {
            rounds[i].through = sequence
            rounds[i].link = roundLink
            worker.inbox.append(rounds[i])
            rounds[i] = worker.spare.popLast() ?? Round()
        }
        pending = 0
        condition.broadcast()
        condition.unlock()
    }

    private func work(_ worker: Worker) {
        let pipeline = worker.pipeline
        let queue = worker.queue
        while true {
            condition.lock()
            while worker.inbox.isEmpty { condition.wait() }
            var round = worker.inbox.removeFirst()
            condition.broadcast()  // room for the capture thread
            condition.unlock()
            round.bytes.withUnsafeBytes { bytes in
                for entry in round.entries {
                    switch entry {
                    case .packet(let sequence, let seconds, let microseconds, let start, let count):
                        queue.key = sequence
                        let packet = Packet(
                            seconds: seconds, microseconds: Int(microseconds),
                            bytes: UnsafeRawBufferPointer(rebasing: bytes[Int(start)..<Int(start) + Int(count)]))
                        pipeline.process(packet, link: round.link, to: queue)
                    case .tick(let sequence, let now):
                        queue.key = sequence
                        pipeline.advance(to: now, events: queue)
                    case .status(let sequence, let position):
                        queue.key = sequence
                        queue.send(status: round.statuses[position])
                    }
                }
            }
            let last = round.last
            if last {
                queue.key = Int64.max
                pipeline.finish(to: queue)
            }
            queue.flush(through: last ? Int64.max : round.through)
            round.removeAll()
            condition.lock()
            worker.spare.append(round)
            worker.status = Sensor.CaptureStatus(pipeline)
            if last { running -= 1 }
            condition.broadcast()
            condition.unlock()
            if last {
                queue.close()
                return
            }
        }
    }

    /// Own captures, on worker `index`'s capture thread: one packet into its pipeline.
    @inline(__always)
    func capture(_ packet: Packet, link: LinkType, worker index: Int) {
        let worker = workers[index]
        let queue = worker.queue
        let pipeline = worker.pipeline
        let now = Int64(packet.seconds) &* 1_000_000 &+ Int64(packet.microseconds)
        if now > worker.latest { worker.latest = now }
        queue.key = now
        let before = pipeline.fingerprinted
        pipeline.process(packet, link: link, to: queue)
        if pipeline.fingerprinted != before { fingerprintedByCaptures.add(1, ordering: .relaxed) }
        worker.sincePromise += 1
        if worker.sincePromise == 256 { promise(index, through: worker.latest - Workers.captureWindow) }
    }

    /// Own captures, on worker `index`'s capture thread: it has read all the kernel had.
    func caughtUp(worker index: Int) {
        promise(index, through: workers[index].latest - Workers.captureWindow)
    }

    /// Own captures, on worker `index`'s capture thread: its link is idle.
    func idle(worker index: Int) {
        let clock = Int64(Date().timeIntervalSince1970 * 1_000_000)
        promise(index, through: max(workers[index].latest, clock) - Workers.captureWindow)
    }

    /// Hands over the worker's events with the promise that none keyed `through` or lower
    /// follows, and publishes its counts.
    private func promise(_ index: Int, through: Int64) {
        let worker = workers[index]
        worker.sincePromise = 0
        if index == 0, let status = pendingStatus.withLock({ $0.take() }) {
            worker.queue.key = worker.latest
            worker.queue.send(status: status)
        }
        worker.queue.flush(through: through)
        condition.lock()
        worker.status = Sensor.CaptureStatus(worker.pipeline)
        condition.unlock()
    }

    /// Worker i's last events (its records and windows at the end) are keyed just below the
    /// end of time, in worker order.
    private func lastKey(_ index: Int) -> Int64 { Int64.max - Int64(workers.count) + Int64(index) }

    /// Own captures, on worker `index`'s capture thread as its capture ends: nothing but its
    /// last events will follow, so that the merge need not wait for it.
    func captureEnded(worker index: Int) {
        promise(index, through: lastKey(index) - 1)
    }

    /// Own captures, once every capture thread has ended: each worker in turn hands over its
    /// records and windows and closes its queue; the merge passes each worker's on while the
    /// next ones, having promised nothing before theirs, wait their turn.
    func finishCaptures() {
        for (i, worker) in workers.enumerated() {
            let queue = worker.queue
            queue.key = lastKey(i)
            worker.pipeline.finish(to: queue)
            queue.flush(through: Int64.max)
            condition.lock()
            worker.status = Sensor.CaptureStatus(worker.pipeline)
            condition.unlock()
            queue.close()
        }
    }

    /// What the workers counted, added up, as of their last round.
    var status: Sensor.CaptureStatus {
        condition.lock()
        defer { condition.unlock() }
        var total = Sensor.CaptureStatus()
        for worker in workers { total.add(worker.status) }
        return total
    }
}
