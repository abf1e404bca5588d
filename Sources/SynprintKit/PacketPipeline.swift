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
    /// ids it hands out apart from the other workers'.
    convenience init(
        settings: Settings, database: Database?, judging: Bool, following: Bool, flowStatistics: Bool, instance: Int, instances: Int
    ) {
        self.init(
            matcher: database.map {
                Matcher(
                    database: $0, weights: settings.matchWeights, cacheSize: settings.matchCacheCapacity, instance: instance,
                    instances: instances)
            },
            tracker: judging
                ? ConnectionTracker(capacity: settings.awaitingCapacity, timeout: settings.requestTimeout, headBudget: settings.headBudget)
                : nil,
            connections: following
                ? ConnectionFollower(capacity: settings.connectionRecordCapacity, idleTimeout: settings.connectionTimeout) : nil,
            flowStats: flowStatistics
                ? FlowStatistics(
                    clientCapacity: settings.flowClientCapacity, connectionCapacity: settings.flowConnectionCapacity,
                    windowPackets: settings.flowWindowPackets, windowSeconds: settings.flowWindowSeconds, instance: instance,
                    instances: instances) : nil)
    }

    /// SYNs and SYN+ACKs fingerprinted so far.
    public var fingerprinted: Int { counters.syn + counters.synAck }

    /// Capture time reached `now` (microseconds) on a packet another worker took: the sweeps
    /// that packet would have run here (`Workers`).
    public func advance(to now: Int64, closed: (FollowedConnection) -> Void, window: (FlowWindow) -> Void) {
        connections?.advance(to: now, closed: closed)
        flowStats?.advance(to: now, report: window)
    }

    /// Decodes one packet. A SYN or SYN+ACK goes to `syn`; the segment that completes the first
    /// request of a followed connection goes to `request`, and the first data of one that is not
    /// a whole request to `established`; a connection record that ended to `closed`, a closed flow-statistics window to
    /// `window`. (Closures rather than a returned event: a SYN
    /// observation is copied once, into the caller's queue.)
    @inline(__always)
    public func process(
        _ packet: Packet, link: LinkType, syn: (SynObservation) -> Void, request: (HTTPObservation) -> Void,
        established: (IPAddress) -> Void = { _ in }, closed: (FollowedConnection) -> Void = { _ in },
        window: (FlowWindow) -> Void = { _ in }
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
                flowStats?.segment(segment, in: packet.bytes, seconds: packet.seconds, microseconds: packet.microseconds, report: window)
                switch tracker?.segment(segment, in: packet.bytes, seconds: packet.seconds, microseconds: packet.microseconds) {
                case .request(let observation)?: request(observation)
                case .established(let address)?: established(address)
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
