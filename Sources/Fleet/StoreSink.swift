import Connections
import FlowStats
import Formatting
import Foundation
import Learn
import Match
import NIOCore
import Output
import SynprintKit
import Tables
import Verdict

/// The fleet store's sink (`--clickhouse`): every event as a row of its type's table, in
/// batches by rows, bytes and age, delivered by a thread of its own so that the capture never
/// waits for ClickHouse. While ClickHouse does not answer, batches wait in the spool on disk
/// (written before they are sent, so a crash loses none) and are replayed in order; without a
/// spool they wait in memory within `memoryLimit`. What is dropped, retried, rejected and sent
/// is counted (`report`).
///
/// Unchecked Sendable: the rendering buffers belong to the output thread (the one thread the
/// sensor calls a handler on) and to the sink's thread when it seals an aged batch, both under
/// `condition`; everything else shared sits under it too.
public final class StoreSink: EventHandler, @unchecked Sendable {
    public struct Settings: Sendable {
        /// A batch is sealed at this many rows, bytes, or seconds after its first row.
        public var batchRows = 20_000
        public var batchBytes = 4 << 20
        public var batchSeconds = 1.0
        /// Sealed batches held in memory while the sink's thread is busy (without a spool, also
        /// while ClickHouse does not answer); past it the oldest are spooled or dropped.
        public var memoryLimit = 32 << 20
        /// At the end, the time left to deliver what is held before it stays in the spool.
        public var drainSeconds = 10.0
        /// Retries wait from `retryFirst` seconds, doubling to `retryMost`, with jitter.
        public var retryFirst = 0.25
        public var retryMost = 5.0
        /// 1 in this many connections is kept (`ConnectionSample`); flow windows and stats
        /// rows are always kept.
        public var sampleEvery = 1
        public init() {}
    }

    /// Per-table and overall delivery counts, for the summary, the metrics and the exit status.
    public struct Report: Sendable {
        public var rowsSent: [String: Int] = [:]
        public var batchesSent = 0
        public var retries = 0
        public var rejectedBatches = 0
        public var rejectedRows = 0
        public var droppedRows = 0
        /// Events of connections the sampling left out (`Settings.sampleEvery`).
        public var sampledOut = 0
        public var spooledBytes = 0
        public var spooledRows = 0
        /// Batches the spool could not write (their rows are in `droppedRows`), and why.
        public var spoolFailures = 0
        public var spoolError: String?
        public var lastError: String?
        public var lastInsertSeconds: Double?
        public var insertSecondsTotal = 0.0
        /// Rows still held (in memory or the spool) when the sink stopped.
        public var leftRows = 0
    }

    private struct Pending {
        let text = TextBuffer(capacity: 1 << 16)
        var rows = 0
        var since = 0.0
    }

    public let client: StoreClient
    public let spool: Spool?
    private let settings: Settings
    private let rows: StoreRows
    /// Rows for a worker's renderer: the same run, its own buffers.
    private let makeRows: @Sendable () -> StoreRows
    private let limiter: AlertLimiter?
    private let sample: ConnectionSample
    /// 1 in this many connections is kept.
    public var sampleEvery: Int { sample.every }
    /// Labelled requests are kept as observations for `db build --clickhouse`, with the build's
    /// exclusions; each key's entry is rendered once (output thread only), for at most
    /// `templatesKept` keys at a time (then they are rendered anew).
    private let exclusions = ExclusionRules()
    private struct TemplateKey: Hashable {
        let key: LearnKey
        let label: OSClass
    }
    private var templates: [TemplateKey: String] = [:]
    static let templatesKept = 4096
    private let condition = NSCondition()
    private var pending: [Pending] = StoreTable.allCases.map { _ in Pending() }
    private var queue: [StoreBatch] = []
    private var queuedBytes = 0
    private var nextBatch: UInt64
    private var sequence: UInt64 = 0  // the event's position in this run
    private var requests = 0, flagged = 0
    private var counts = Report()
    private var closing = false
    private var deadline = Date.distantFuture
    private var finished = false
    /// Without a spool, a full memory queue holds the output thread back instead of dropping
    /// batches: right for files, which wait for no one; a live capture must not wait.
    public var waitsWhenFull: Bool {
        get { condition.withLock { waiting } }
        set { condition.withLock { waiting = newValue } }
    }
    private var waiting = false
    /// Batches the spool writer took from the queue and is writing to the spool.
    private var handing = 0
    private var writerFinished = true

    public init(client: StoreClient, spool: Spool?, database: Database?, labels: EventLabels, limiter: AlertLimiter?, settings: Settings) {
        self.client = client
        self.spool = spool
        self.settings = settings
        self.limiter = limiter
        let now = Date().timeIntervalSince1970
        sample = ConnectionSample(every: settings.sampleEvery)
        let runStart = Int64(now * 1e6)
        rows = StoreRows(database: database, labels: labels, runStart: runStart, weight: sample.every)
        makeRows = { [sample] in StoreRows(database: database, labels: labels, runStart: runStart, weight: sample.every) }
        nextBatch = spool?.nextSequence ?? 1
        let thread = Thread.named("store") { [self] in deliver() }
        thread.start()
        if spool != nil {
            writerFinished = false
            let writer = Thread.named("store spool") { [self] in writeAhead() }
            writer.start()
        }
    }

    // MARK: Output thread

    /// A row into its table's pending batch: its identity (the run's next sequence), then the
    /// rest as `render` writes it.
    private func append(_ table: StoreTable, _ render: (TextBuffer) -> Void) {
        condition.lock()
        let index = StoreTable.allCases.firstIndex(of: table)!
        if pending[index].rows == 0 { pending[index].since = monotonic() }
        rows.identify(sequence, to: pending[index].text)
        render(pending[index].text)
        sequence += 1
        pending[index].rows += 1
        if pending[index].rows >= settings.batchRows || pending[index].text.count >= settings.batchBytes { seal(index, mayWait: true) }
        condition.unlock()
    }

    /// Whether `kept` (the sample's answer for the event's connection); one left out is counted.
    private func sampled(_ kept: Bool) -> Bool {
        if kept { return true }
        condition.withLock { counts.sampledOut += 1 }
        return false
    }

    public func handle(syn: SynObservation) {
        guard sampled(sample.keeps(syn)) else { return }
        append(syn.fingerprint.direction == .syn ? .syn : .synack) { rows.write(syn, to: $0) }
    }

    public func handle(request: JudgedRequest) {
        // Counted for the stats rows whether or not its connection is in the sample.
        requests += 1
        if request.verdict.flagged { flagged += 1 }
        let syn = request.observation.syn
        guard sampled(sample.keeps(syn.key)) else { return }
        let claimed = request.verdict.claimed
        var line: String?, excluded = ""
        if let reason = exclusions.exclusion(
            syn.fingerprint, label: claimed, userAgent: request.observation.request.userAgent, classification: syn.classification)
        {
            excluded = reason.rawValue
        } else if let label = claimed?.osClass {
            let key = TemplateKey(key: LearnKey(syn.fingerprint), label: label)
            if let known = templates[key] {
                line = known
            } else {
                if templates.count >= StoreSink.templatesKept { templates.removeAll(keepingCapacity: true) }
                line = ObservationLog.template(syn, label: label)
                templates[key] = line
            }
        }
        append(.http) { rows.write(request, observation: line, excluded: excluded, to: $0) }
    }

    public func handle(alert: JudgedRequest) {
        guard sampled(sample.keeps(alert.observation.syn.key)) else { return }
        append(.alert) { rows.write(alert, to: $0) }
    }

    /// A web application's check (`/v1/check`, `/v1/auth`), from an API thread: an `http` row
    /// with source `api` (its verdict weighs the connection's ClientHello, for HTTPS).
    public func handle(apiCheck check: JudgedRequest) {
        guard sampled(sample.keeps(check.observation.syn.key)) else { return }
        append(.http) { rows.write(check, source: "api", to: $0) }
    }

    /// A flagged check the alert limits let through: its `alert` row.
    public func handle(apiAlert alert: JudgedRequest) {
        guard sampled(sample.keeps(alert.observation.syn.key)) else { return }
        append(.alert) { rows.write(alert, source: "api", to: $0) }
    }

    public func handle(connection: FollowedConnection) {
        guard sampled(sample.keeps(connection)) else { return }
        append(.conn) { rows.write(connection, to: $0) }
    }

    public func handle(flowWindow: FlowWindow) {
        append(.flowstats) { rows.write(flowWindow, to: $0) }
    }

    public func handle(tls: TLSObservation) {
        guard sampled(sample.keeps(tls)) else { return }
        append(.tls) { rows.write(tls, to: $0) }
    }

    // MARK: Rows written on the workers

    /// With several workers, each writes its events' rows but for their identity
    /// (`StoreRenderer`); here they get it, in the merged order, so that the run's sequences
    /// stay gapless and in capture order. No text: the renderer left the event out of the sample.
    public func renderer() -> EventRenderer? { StoreRenderer(rows: makeRows(), sample: sample) }

    private func append(_ table: StoreTable, rendered: UnsafeRawBufferPointer) {
        guard !rendered.isEmpty else { return condition.withLock { counts.sampledOut += 1 } }
        append(table) { $0.append(bytes: rendered) }
    }

    public func handle(syn: SynObservation, rendered: UnsafeRawBufferPointer) {
        append(syn.fingerprint.direction == .syn ? .syn : .synack, rendered: rendered)
    }

    public func handle(connection: FollowedConnection, rendered: UnsafeRawBufferPointer) { append(.conn, rendered: rendered) }

    public func handle(flowWindow: FlowWindow, rendered: UnsafeRawBufferPointer) { append(.flowstats, rendered: rendered) }

    public func handle(tls: TLSObservation, rendered: UnsafeRawBufferPointer) { append(.tls, rendered: rendered) }

    public func handle(status: Sensor.CaptureStatus) {
        let stats = status.figures(requests: requests, flagged: flagged, alertsSuppressed: limiter?.suppressed ?? 0)
        append(.stats) { rows.write(stats, to: $0) }
    }

    public func idle() {
        condition.lock()
        sealAged()
        condition.unlock()
    }

    /// Under `condition`: the table's pending rows become a batch in the queue. Past the memory
    /// bound (the sink's threads fall behind) a capture of files waits for them
    /// (`waitsWhenFull`, on the output thread only); a live one drops the oldest, counted.
    private func seal(_ index: Int, mayWait: Bool = false) {
        let text = pending[index].text
        guard pending[index].rows > 0 else { return }
        let batch = StoreBatch(
            sequence: nextBatch, table: StoreTable.allCases[index].rawValue, rows: pending[index].rows,
            bytes: text.withBytes { [UInt8]($0) })
        nextBatch += 1
        text.removeAll()
        pending[index].rows = 0
        queue.append(batch)
        queuedBytes += batch.bytes.count
        while queuedBytes > settings.memoryLimit, queue.count > 1 {
            if waiting && !closing && !StopSignal.requested {
                // Files: the output thread waits; a seal on another thread (an aged batch, the
                // end) leaves the queue a batch over its bound, for the next append to wait on.
                // A stop is looked for every 0.1 s: it turns the wait into dropping, counted.
                guard mayWait else { break }
                _ = condition.wait(until: Date(timeIntervalSinceNow: 0.1))
                continue
            }
            let oldest = queue.removeFirst()
            queuedBytes -= oldest.bytes.count
            counts.droppedRows += oldest.rows
        }
        condition.broadcast()
    }

    private func sealAged() {
        let now = monotonic()
        for index in pending.indices where pending[index].rows > 0 && now - pending[index].since >= settings.batchSeconds { seal(index) }
    }

    // MARK: The sink's threads

    /// With a spool: every sealed batch is written to it before it is sent, on a thread of its
    /// own so that neither the output thread nor the sender waits for the disk.
    private func writeAhead() {
        while true {
            condition.lock()
            sealAged()
            while queue.isEmpty && !closing {
                _ = condition.wait(until: Date(timeIntervalSinceNow: min(0.25, settings.batchSeconds / 2)))
                sealAged()
            }
            if queue.isEmpty {  // closing, and everything sealed is written
                writerFinished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let batches = queue
            queue.removeAll()
            queuedBytes = 0
            handing = batches.count
            condition.broadcast()  // room for a capture of files that waits
            condition.unlock()
            for batch in batches {
                spool?.add(batch)  // what it cannot keep, it counts as dropped
                condition.lock()
                handing -= 1
                condition.broadcast()
                condition.unlock()
            }
        }
    }

    /// Sends the oldest batch (from the spool, or without one from memory) until the end.
    private func deliver() {
        var wait = settings.retryFirst
        while true {
            condition.lock()
            sealAged()
            let drained = queue.isEmpty && handing == 0 && pending.allSatisfy { $0.rows == 0 } && (spool?.isEmpty ?? true)
            if closing && (Date() >= deadline || drained) {
                condition.unlock()
                break
            }
            var next: StoreBatch?
            if spool == nil, !queue.isEmpty {
                next = queue.removeFirst()
                queuedBytes -= next!.bytes.count
                condition.broadcast()  // room for a capture of files that waits
            }
            condition.unlock()
            if let spool { next = spool.oldest() }
            guard let batch = next else {
                condition.lock()
                // Closing: the spool writer may still be writing the last batches.
                _ = condition.wait(until: Date(timeIntervalSinceNow: closing ? 0.01 : min(0.25, settings.batchSeconds / 2)))
                condition.unlock()
                continue
            }
            let started = monotonic()
            do {
                try client.insert(table: batch.table, rows: ByteBuffer(bytes: batch.bytes), format: batch.format)
                spool?.remove(batch.sequence)
                let seconds = monotonic() - started
                condition.lock()
                counts.rowsSent[batch.table, default: 0] += batch.rows
                counts.batchesSent += 1
                counts.lastInsertSeconds = seconds
                counts.insertSecondsTotal += seconds
                condition.unlock()
                wait = settings.retryFirst
            } catch let error where error.isMalformed {
                spool?.reject(batch, error: error.description)
                condition.lock()
                counts.rejectedBatches += 1
                counts.rejectedRows += batch.rows
                counts.lastError = error.description
                condition.unlock()
            } catch {
                condition.lock()
                counts.retries += 1
                counts.lastError = error.description
                if spool == nil {  // back at the front, to be sent again first
                    queue.insert(batch, at: 0)
                    queuedBytes += batch.bytes.count
                }
                let until = min(deadline, Date(timeIntervalSinceNow: wait * Double.random(in: 0.5...1.5)))
                while Date() < until && !(closing && Date() >= deadline) { _ = condition.wait(until: until) }
                condition.unlock()
                wait = min(wait * 2, settings.retryMost)
            }
        }
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Seals what is pending and delivers what is held while ClickHouse answers, for at most
    /// `drainSeconds`; what is left stays in the spool for the next start (counted in `leftRows`).
    public func finish() {
        condition.lock()
        for index in pending.indices { seal(index) }
        closing = true
        deadline = Date(timeIntervalSinceNow: settings.drainSeconds)
        condition.broadcast()
        // The thread may be inside a request when the time is up: a second more (at most the
        // drain time) to finish it.
        let limit = deadline.addingTimeInterval(min(1, settings.drainSeconds))
        while !finished && Date() < limit { _ = condition.wait(until: limit) }
        if !finished {
            // Still inside a request: closing the client ends it, so that nothing is sent
            // after this returns (the batch stays in the spool for the next start).
            condition.unlock()
            client.shutdown()
            condition.lock()
            let end = Date(timeIntervalSinceNow: 2)
            while !finished && Date() < end { _ = condition.wait(until: end) }
        }
        // The spool writer finishes what it took (a few writes to the disk).
        while !writerFinished || handing > 0 { condition.wait() }
        // What still waits in memory goes to the spool (or is dropped) here.
        let left = queue
        queue.removeAll()
        queuedBytes = 0
        if spool == nil { counts.droppedRows += left.reduce(0) { $0 + $1.rows } }
        condition.unlock()
        if let spool {
            for batch in left { spool.add(batch) }
        }
    }

    public var report: Report {
        condition.lock()
        var report = counts
        report.leftRows = queue.reduce(0) { $0 + $1.rows } + pending.reduce(0) { $0 + $1.rows }
        condition.unlock()
        if let spool {
            report.spooledBytes = spool.bytes
            report.spooledRows = spool.rows
            report.droppedRows += spool.droppedRows
            report.spoolFailures = spool.failures
            report.spoolError = spool.lastFailure
            report.leftRows += spool.rows
        }
        return report
    }

    private func monotonic() -> Double { ProcessInfo.processInfo.systemUptime }
}
