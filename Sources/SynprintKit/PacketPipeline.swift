import Connections
import Decode
import Features
import FlowStats
import Match
import Verdict

/// The capture side of the pipeline: decode → features → match and path, and client
/// connections followed to their first request. It must see every packet, in order, on one
/// thread. A packet that is not a SYN costs no allocation; a SYN costs none either.
public final class PacketPipeline {
    public private(set) var counters = PacketCounters()
    public let matcher: Matcher?
    /// Follows connections to their request (`--http`); nil when nothing judges requests.
    public let tracker: ConnectionTracker?
    /// Follows every connection to its end (`--connections`); nil when off.
    public let connections: ConnectionFollower?
    /// Windowed flow statistics per client (`--flow-stats`); nil when off.
    public let flowStats: FlowStatistics?

    public init(
        matcher: Matcher?, tracker: ConnectionTracker?, connections: ConnectionFollower? = nil, flowStats: FlowStatistics? = nil
    ) {
        self.matcher = matcher
        self.tracker = tracker
        self.connections = connections
        self.flowStats = flowStats
    }

    /// The stages a sensor asks for, sized by `settings`; `instance` of `instances` keeps the
    /// ids it hands out apart from the other workers'. `entropyElsewhere`: where the flow
    /// statistics send their entropy work (`FlowStatistics.entropyElsewhere`).
    convenience init(
        settings: Settings, database: Database?, stacks: TLSStacks?, judging: Bool, requests: Bool, following: Bool, flowStatistics: Bool,
        entropyElsewhere: ((FlowStatistics.EntropyWork) -> Void)?, instance: Int, instances: Int
    ) {
        self.init(
            matcher: database.map {
                Matcher(
                    database: $0, weights: settings.matchWeights, cacheSize: settings.matchCacheCapacity, instance: instance,
                    instances: instances)
            },
            tracker: judging
                ? ConnectionTracker(
                    capacity: settings.awaitingCapacity, timeout: settings.requestTimeout, headBudget: settings.headBudget, stacks: stacks,
                    readsRequests: requests)
                : nil,
            connections: following
                ? ConnectionFollower(capacity: settings.connectionRecordCapacity, idleTimeout: settings.connectionTimeout) : nil,
            flowStats: flowStatistics
                ? FlowStatistics(
                    clientCapacity: settings.flowClientCapacity, connectionCapacity: settings.flowConnectionCapacity,
                    windowPackets: settings.flowWindowPackets, windowSeconds: settings.flowWindowSeconds,
                    helloBudget: settings.helloBudget, entropyElsewhere: entropyElsewhere, everyJA4: judging, instance: instance,
                    instances: instances) : nil)
    }

    /// SYNs and SYN+ACKs fingerprinted so far.
    public var fingerprinted: Int { counters.syn + counters.synAck }

    /// Capture time reached `now` (microseconds) on a packet another worker took: the sweeps
    /// that packet would have run here (`Workers`).
    func advance<Events: PipelineEvents>(to now: Int64, events: Events) {
        connections?.advance(to: now) { events.send(connection: $0) }
        flowStats?.advance(to: now) { events.send(window: $0) }
    }

    /// One packet, its events to `events`.
    @inline(__always)
    func process<Events: PipelineEvents>(_ packet: Packet, link: LinkType, to events: Events) {
        process(
            packet, link: link, syn: { events.send($0) }, request: { events.send($0) }, established: { events.send(established: $0) },
            closed: { events.send(connection: $0) }, window: { events.send(window: $0) }, hello: { events.send(hello: $0) })
    }

    /// The input ended: every connection record and flow window still open, to `events`.
    func finish<Events: PipelineEvents>(to events: Events) {
        connections?.finish { events.send(connection: $0) }
        flowStats?.finish { events.send(window: $0) }
    }

    /// Decodes one packet. A SYN or SYN+ACK goes to `syn`; the segment that completes the first
    /// request of a followed connection goes to `request`, and the first data of one that is not
    /// a whole request to `established`; a connection record that ended to `closed`, a closed flow-statistics window to
    /// `window`, a connection's ClientHello to `hello`. (Closures rather than a returned event: a SYN
    /// observation is copied once, into the caller's queue.)
    @inline(__always)
    public func process(
        _ packet: Packet, link: LinkType, syn: (SynObservation) -> Void, request: (HTTPObservation) -> Void,
        established: (IPAddress) -> Void = { _ in }, closed: (FollowedConnection) -> Void = { _ in },
        window: (FlowWindow) -> Void = { _ in }, hello: (TLSObservation) -> Void = { _ in }
    ) {
        counters.packets += 1
        switch PacketDecoder.decode(packet.bytes, link: link) {
        case .skipped(let reason):
            counters.count(reason)
        case .malformed(let reason):
            counters.count(reason)
        case .tcp(let segment):
            guard segment.isSYN else {
                counters.count(.notSYN)
                connections?.segment(segment, seconds: packet.seconds, microseconds: packet.microseconds, closed: closed)
                // A ClientHello is read once: the flow statistics' reading goes to the tracker.
                let read = flowStats?.segment(
                    segment, in: packet.bytes, seconds: packet.seconds, microseconds: packet.microseconds, report: window)
                switch tracker?.segment(segment, in: packet.bytes, seconds: packet.seconds, microseconds: packet.microseconds, read: read) {
                case .request(let observation)?: request(observation)
                case .established(let address)?: established(address)
                case .hello(let observation)?: hello(observation)
                case .none?, nil: break
                }
                return
            }
            let fingerprint = Fingerprint(segment, in: packet.bytes)
            if fingerprint.direction == .syn { counters.syn += 1 } else { counters.synAck += 1 }
            if fingerprint.quirks.contains(.malformedOptions) { counters.badOptions += 1 }
            var observation = SynObservation(seconds: packet.seconds, microseconds: packet.microseconds, fingerprint: fingerprint)
            if let matcher { (observation.classification, observation.path) = matcher.match(fingerprint) }
            if let tracker, fingerprint.direction == .syn { tracker.opened(observation) }
            if let flowStats {
                if fingerprint.direction == .syn {
                    flowStats.opened(observation, report: window)
                } else {
                    flowStats.segment(segment, in: packet.bytes, seconds: packet.seconds, microseconds: packet.microseconds, report: window)
                }
            }
            if let connections {
                if fingerprint.direction == .syn {
                    connections.opened(observation, closed: closed)
                } else {
                    connections.answered(observation, closed: closed)
                }
            }
            syn(observation)
        }
    }
}

/// Where a pipeline's events go: the queue to the output thread (`EventQueue`), or straight to
/// the output stage for a sensor that is not threaded (`OutputStage`). A new event kind is a
/// method here, its case in `EventQueue` and its delivery in `OutputStage`.
protocol PipelineEvents {
    func send(_ syn: SynObservation)
    func send(_ request: HTTPObservation)
    func send(established address: IPAddress)
    func send(connection: FollowedConnection)
    func send(window: FlowWindow)
    func send(hello: TLSObservation)
}
