import Connections
import Decode
import FlowStats
import Foundation
import Match
import Output
import Synchronization
import Verdict

/// Receives the sensor's events in capture order, on the output thread (or on the caller's
/// thread for a sensor that is not threaded).
public protocol EventHandler: AnyObject, Sendable {
    /// Every SYN and SYN+ACK.
    func handle(syn: SynObservation)
    /// Every request read from a followed connection, with the verdict on it.
    func handle(request: JudgedRequest)
    /// A flagged request the alert limits let through (`EventFanOut` raises them), after its
    /// `handle(request:)`.
    func handle(alert: JudgedRequest)
    /// Nothing is queued: a moment to flush buffered output.
    func idle()
    /// A periodic status (`--stats-events`), in order with the events around it.
    func handle(status: Sensor.CaptureStatus)
    /// A followed connection ended (`--connections`).
    func handle(connection: FollowedConnection)
    /// A client's flow-statistics window closed (`--flow-stats`).
    func handle(flowWindow: FlowWindow)
    /// A followed connection began with a TLS ClientHello (`--http`).
    func handle(tls: TLSObservation)

    /// A handler that writes events as text may have them rendered on the worker that made
    /// them (`EventRenderer`): a new renderer for each worker, or nil to render them itself.
    func renderer() -> EventRenderer?
    /// The events of `handle(syn:)` and its kin, with their text from this handler's renderer.
    func handle(syn: SynObservation, rendered: UnsafeRawBufferPointer)
    func handle(connection: FollowedConnection, rendered: UnsafeRawBufferPointer)
    func handle(flowWindow: FlowWindow, rendered: UnsafeRawBufferPointer)
    func handle(tls: TLSObservation, rendered: UnsafeRawBufferPointer)
}

extension EventHandler {
    public func handle(alert: JudgedRequest) {}
    public func handle(status: Sensor.CaptureStatus) {}
    public func handle(connection: FollowedConnection) {}
    public func handle(flowWindow: FlowWindow) {}
    public func handle(tls: TLSObservation) {}
    public func renderer() -> EventRenderer? { nil }
    public func handle(syn: SynObservation, rendered: UnsafeRawBufferPointer) { handle(syn: syn) }
    public func handle(connection: FollowedConnection, rendered: UnsafeRawBufferPointer) { handle(connection: connection) }
    public func handle(flowWindow: FlowWindow, rendered: UnsafeRawBufferPointer) { handle(flowWindow: flowWindow) }
    public func handle(tls: TLSObservation, rendered: UnsafeRawBufferPointer) { handle(tls: tls) }
}

/// The output thread's end of the pipeline: the judging side of the verdict stage (host
/// history, verdicts), then the handler. A sensor that is not threaded sends its events here
/// directly.
final class OutputStage: PipelineEvents, Sendable {
    let judge: VerdictJudge?
    let handler: EventHandler
    /// The flow windows' entropy, when the capture thread hands it over (threaded sensors).
    let entropy: EntropyAccumulator?

    init(judge: VerdictJudge?, handler: EventHandler, entropy: EntropyAccumulator?) {
        self.judge = judge
        self.handler = handler
        self.entropy = entropy
    }

    /// `rendered`: the event's text from the handler's renderer, when a worker wrote it.
    func handle(_ syn: SynObservation, rendered: UnsafeRawBufferPointer? = nil) {
        if syn.fingerprint.direction == .syn { judge?.record(syn) }
        if let rendered { handler.handle(syn: syn, rendered: rendered) } else { handler.handle(syn: syn) }
    }

    func handle(_ observation: HTTPObservation) {
        guard let judge else { return }
        handler.handle(request: JudgedRequest(observation: observation, verdict: judge.judge(observation)))
    }

    /// A window that met tunnel rules marks its client in the host history first, so that the
    /// verdicts and lookups see it.
    /// A window rendered on a worker is whole there (workers compute their own entropy).
    func handle(_ window: FlowWindow, rendered: UnsafeRawBufferPointer? = nil) {
        var window = window
        entropy?.complete(&window)
        if !window.rules.isEmpty {
            judge?.hosts.markTunnelFlow(window.client, rules: window.rules, at: Int(window.last / 1_000_000))
        }
        if let rendered { handler.handle(flowWindow: window, rendered: rendered) } else { handler.handle(flowWindow: window) }
    }

    func handle(_ connection: FollowedConnection, rendered: UnsafeRawBufferPointer? = nil) {
        if let rendered { handler.handle(connection: connection, rendered: rendered) } else { handler.handle(connection: connection) }
    }

    func established(_ address: IPAddress) {
        judge?.hosts.markEstablished(address)
    }

    func send(_ syn: SynObservation) { handle(syn) }
    func send(_ request: HTTPObservation) { handle(request) }
    func send(established address: IPAddress) { established(address) }
    func send(connection: FollowedConnection) { handle(connection) }
    func send(window: FlowWindow) { handle(window) }
    func send(hello: TLSObservation) { handle(hello) }

    /// A ClientHello goes with its connection's record first, for the checks the APIs make.
    func handle(_ hello: TLSObservation, rendered: UnsafeRawBufferPointer? = nil) {
        judge?.record(hello)
        if let rendered { handler.handle(tls: hello, rendered: rendered) } else { handler.handle(tls: hello) }
    }

    func status(_ status: Sensor.CaptureStatus) { handler.handle(status: status) }

    func idle() { handler.idle() }
}

/// The sensor: the pipeline's stages composed in one place. Packets go in from any capture
/// loop (libpcap in the command line, bytes in a test, another program), and events come out to
/// an `EventHandler`: capture → decode → features → match and path (`PacketPipeline`, on the
/// caller's thread), then the verdict stage's judging side (`VerdictJudge`: host history and
/// verdicts) and the handler on the output thread.
public final class Sensor {
    public let settings: Settings
    /// The pipeline (the first worker's, when several run: each owns its own).
    public let pipeline: PacketPipeline
    /// The judging side, shared with the lookup APIs; nil when nothing is judged.
    public let judge: VerdictJudge?
    private let stage: OutputStage
    private let output: OutputThread?
    /// The pipelines' event queues to the output thread: one per worker.
    private let queues: [EventQueue]
    private let workers: Workers?
    private let limit: Int?
    private var finished = false

    /// `database` enables matching (and the path's link names); `judging` follows connections
    /// to their request and judges it (it needs the database). `limit` stops after that many
    /// SYNs and SYN+ACKs. A sensor that is not `threaded` handles each event before `process`
    /// returns (tests, embedding programs with their own threads). `workers` above 1 runs that
    /// many pipelines on threads of their own, each with its share of the memory budget, their
    /// events merged in capture order (`Workers`); it implies `threaded`. With `ownCaptures`,
    /// each worker is fed on a capture thread of its own (`process(_:link:worker:)`, a fanout
    /// group of live captures) instead of by `process(_:link:)`. `stacks` names the TLS library
    /// of the ClientHellos followed connections begin with; without `requests`, only those are
    /// read (`--tls`), not plain-HTTP requests.
    public init(
        settings: Settings, database: Database?, stacks: TLSStacks? = nil, judging: Bool, requests: Bool = true, following: Bool = false,
        flowStatistics: Bool = false,
        limit: Int? = nil, threaded: Bool = true, workers: Int = 1, ownCaptures: Bool = false, handler: EventHandler
    ) {
        precondition(!judging || database != nil, "judging needs a database to match against")
        self.settings = settings
        self.limit = limit
        let count = max(workers, 1)
        let share = settings.share(of: count)
        // With one pipeline on a thread, the flow windows' entropy is computed on the output
        // thread: it is most of the flow statistics' time per packet, and the output thread has
        // time to spare. Several workers have the time themselves, and the output thread none.
        let threaded = threaded || count > 1
        let entropy = threaded && count == 1 && flowStatistics ? EntropyAccumulator(clients: settings.flowClientCapacity) : nil
        let condition = NSCondition()
        let queues =
            threaded
            ? (0..<count).map { _ in
                EventQueue(batchSize: settings.outputBatchSize, maxBatches: settings.outputBatchesWaiting, condition: condition)
            } : []
        let pipelines = (0..<count).map { instance in
            PacketPipeline(
                settings: share, database: database, stacks: stacks, judging: judging, requests: requests, following: following,
                flowStatistics: flowStatistics,
                entropyElsewhere: entropy == nil ? nil : { [queue = queues[instance]] in queue.send(entropy: $0) }, instance: instance,
                instances: count)
        }
        pipeline = pipelines[0]
        let hosts = HostTable(
            capacity: settings.hostCapacity, sharingWindow: settings.sharingWindow,
            minimumConfidence: settings.verdictRules.minimumConfidence, evidenceLifetime: settings.evidenceLifetime,
            strings: StringInterner(budget: settings.stringBudget))
        judge = judging ? VerdictJudge(rules: settings.verdictRules, hosts: hosts) : nil
        stage = OutputStage(judge: judge, handler: handler, entropy: entropy)
        monitor = SensorMonitor(database: database, judge: judge)
        self.queues = queues
        guard threaded else {
            output = nil
            self.workers = nil
            return
        }
        // Several workers: each writes its events' text where the handler lets it, for the
        // output thread is the one every event passes (one worker keeps the capture thread
        // busier than the output thread, so it renders nothing).
        if count > 1 { for queue in queues { queue.renderer = handler.renderer() } }
        output = OutputThread(queues: queues, stage: stage)
        self.workers =
            count > 1
            ? Workers(
                pipelines: pipelines, queues: queues, sweeps: following || flowStatistics, roundPackets: settings.workerRoundPackets,
                roundsWaiting: settings.workerRoundsWaiting, routes: settings.routeCapacity, ownCaptures: ownCaptures) : nil
    }

    public var database: Database? { pipeline.matcher?.database }

    /// Flow windows whose entropy tallies were pushed out on the output thread; read it after
    /// `finish`.
    public var flowEntropyEvicted: Int { stage.entropy?.evicted ?? 0 }
    /// What the pipelines counted (with several workers, as of their last round; exact after
    /// `finish`).
    public var counters: PacketCounters { workers?.status.counters ?? pipeline.counters }
    /// Connections opened from the lower port whose worker was forgotten to make room, so that
    /// their later packets went by port (several workers reading files).
    public var workerRoutesForgotten: Int { workers?.forgotten ?? 0 }
    /// Packets handed to the sensor so far (cheap: for the capture loop's periodic work).
    public var packetsRead: Int { workers?.packets ?? pipeline.counters.packets }
    public var reachedLimit: Bool { limit.map { (workers?.fingerprinted ?? pipeline.fingerprinted) >= $0 } ?? false }

    /// How events reach the output thread: in full batches (files), each at once (pipes and
    /// FIFOs, whose reader waits for each event), or in batches at most `liveFlushInterval`
    /// old, flushed when the capture is idle (live interfaces).
    public enum Delivery: Sendable { case batches, eachEvent, prompt }

    public var delivery: Delivery = .batches {
        didSet {
            if let workers {
                workers.handOverEachPacket = delivery == .eachEvent
                workers.promptInterval = delivery == .prompt ? settings.liveFlushInterval : nil
            } else if let queue = queues.first {
                queue.handOverEachEvent = delivery == .eachEvent
                queue.promptInterval = delivery == .prompt ? settings.liveFlushInterval : nil
            }
        }
    }

    /// The capture is idle: hand over what is queued, so that a reader sees it.
    public func idle() {
        if let workers { workers.flush() } else { queues.first?.flush() }
    }

    /// Handles one packet; false once the limit is reached.
    @discardableResult
    public func process(_ packet: Packet, link: LinkType) -> Bool {
        if let workers {
            workers.dispatch(packet, link: link)
        } else if let queue = queues.first {
            pipeline.process(packet, link: link, to: queue)
        } else {
            pipeline.process(packet, link: link, to: stage)
        }
        return !reachedLimit
    }

    /// Worker `worker`'s own capture thread (`ownCaptures`): one packet; false once the limit is
    /// reached (with several capture threads, a few more SYNs than the limit may pass).
    @discardableResult
    public func process(_ packet: Packet, link: LinkType, worker: Int) -> Bool {
        workers?.capture(packet, link: link, worker: worker)
        return !reachedLimit
    }

    /// Worker `worker`'s own capture is idle (`ownCaptures`).
    public func idle(worker: Int) {
        workers?.idle(worker: worker)
    }

    /// Worker `worker`'s own capture has read all the kernel had for it (`ownCaptures`): its
    /// events so far go on to the merge.
    public func caughtUp(worker: Int) {
        workers?.caughtUp(worker: worker)
    }

    /// Worker `worker`'s own capture has ended (`ownCaptures`), on its thread.
    public func captureEnded(worker: Int) {
        workers?.captureEnded(worker: worker)
    }

    /// Hands over what is queued and waits until the handler has seen every event (with own
    /// captures, call it once every capture thread has ended). Later calls do nothing, so that
    /// an error path may call it too.
    public func finish() {
        guard !finished else { return }
        finished = true
        if let workers, workers.ownCaptures {
            workers.finishCaptures()
        } else if let workers {
            workers.finish()
        } else if let queue = queues.first {
            pipeline.finish(to: queue)
            queue.close()
        } else {
            pipeline.finish(to: stage)
        }
        output?.join()
    }

    /// What the capture side counted, as last published with `publishStatus` (other threads
    /// cannot read the pipeline's counters while it runs).
    public struct CaptureStatus: Sendable {
        public var counters = PacketCounters()
        public var tracker: ConnectionTracker.Counters?
        public var awaitingRequest = 0
        public var bufferedHeadBytes = 0
        /// Connections followed to their end (`--connections`).
        public var connections: ConnectionFollower.Counters?
        /// Flow-statistics windows, clients and what their tables pushed out (`--flow-stats`).
        public var flowStats: FlowStatistics.Counters?
        /// libpcap's received, dropped and interface-dropped counts of a live capture.
        public var libpcap: (received: UInt64, dropped: UInt64, interfaceDropped: UInt64)?

        /// When it was published (seconds since 1970, wall clock): the stats event's time.
        public var published = 0.0
        /// With several workers, each one's own figures (empty with one).
        public var workers: [WorkerFigures] = []

        /// What one worker's pipeline holds and has done.
        public struct WorkerFigures: Sendable {
            public var packets = 0
            /// Entries in its tables: connections awaiting a request, connection records, flow clients.
            public var tableEntries = 0
            /// Entries its full tables pushed out.
            public var evicted = 0
            /// What libpcap dropped of its own capture (live, in a fanout group).
            public var libpcapDropped: UInt64?
        }

        public init() {}

        /// What one pipeline counted.
        init(_ pipeline: PacketPipeline) {
            counters = pipeline.counters
            tracker = pipeline.tracker?.counters
            awaitingRequest = pipeline.tracker?.waiting ?? 0
            bufferedHeadBytes = pipeline.tracker?.bufferedBytes ?? 0
            connections = pipeline.connections?.counters
            flowStats = pipeline.flowStats?.counters
        }

        /// The figures of a stats event or row, with the run's own counts.
        public func figures(requests: Int, flagged: Int, alertsSuppressed: Int) -> StatsFigures {
            StatsFigures(
                seconds: Int(published), microseconds: Int(published.truncatingRemainder(dividingBy: 1) * 1e6), packets: counters.packets,
                syn: counters.syn, synAck: counters.synAck, skipped: counters.skippedTotal, malformed: counters.malformedTotal,
                libpcap: libpcap, awaitingRequest: awaitingRequest, requests: requests, flagged: flagged,
                alertsSuppressed: alertsSuppressed)
        }

        /// Another worker's counts added in, and kept apart in `workers`.
        mutating func add(_ other: CaptureStatus) {
            var figures = WorkerFigures(packets: other.counters.packets, tableEntries: other.awaitingRequest)
            figures.tableEntries += (other.connections?.following ?? 0) + (other.flowStats?.clients ?? 0)
            figures.evicted = (other.tracker?.evicted ?? 0) + (other.connections.map { $0.evictedOpening + $0.evictedConnected } ?? 0)
            figures.evicted += other.flowStats.map { $0.clientsEvicted + $0.connectionsEvicted } ?? 0
            workers.append(figures)
            counters.add(other.counters)
            if let theirs = other.tracker {
                tracker = tracker ?? .init()
                tracker?.add(theirs)
            }
            awaitingRequest += other.awaitingRequest
            bufferedHeadBytes += other.bufferedHeadBytes
            if let theirs = other.connections {
                connections = connections ?? .init()
                connections?.add(theirs)
            }
            if let theirs = other.flowStats {
                flowStats = flowStats ?? .init()
                flowStats?.add(theirs)
            }
        }
    }

    /// What other threads may read while the sensor runs (stats, metrics, the APIs).
    public let monitor: SensorMonitor

    public var captureStatus: CaptureStatus { monitor.captureStatus }

    /// Capture thread: makes the counts so far visible to other threads (stats, metrics).
    /// `captures`: libpcap's counts of each worker's own capture (a fanout group), in order.
    public func publishStatus(
        libpcap: (received: UInt64, dropped: UInt64, interfaceDropped: UInt64)? = nil,
        captures: [(received: UInt64, dropped: UInt64, interfaceDropped: UInt64)?] = []
    ) {
        var current = workers?.status ?? CaptureStatus(pipeline)
        current.published = Date().timeIntervalSince1970
        current.libpcap = libpcap ?? monitor.captureStatus.libpcap
        for (i, counts) in captures.enumerated() where i < current.workers.count {
            current.workers[i].libpcapDropped = counts.map { $0.dropped &+ $0.interfaceDropped }
        }
        monitor.publish(current)
    }

    /// Capture thread: passes the latest status to the handler, in order with the events.
    public func sendStatus() {
        let status = captureStatus
        if let workers {
            workers.send(status: status)
        } else if let queue = queues.first {
            queue.send(status: status)
        } else {
            stage.status(status)
        }
    }

    /// Events (and, with several workers, packets) not handed on because a stop was asked for
    /// while the output or the workers stalled.
    public var droppedAtStop: Int { queues.reduce(workers?.droppedAtStop ?? 0) { $0 + $1.droppedAtStop } }
}

/// The parts of a running sensor other threads may read: the capture status it last published,
/// the database, and the judging side with its locked host table.
public final class SensorMonitor: Sendable {
    public let database: Database?
    public let judge: VerdictJudge?
    private let status = Mutex(Sensor.CaptureStatus())

    init(database: Database?, judge: VerdictJudge?) {
        self.database = database
        self.judge = judge
    }

    public var captureStatus: Sensor.CaptureStatus { status.withLock { $0 } }

    func publish(_ current: Sensor.CaptureStatus) {
        status.withLock { $0 = current }
    }
}
