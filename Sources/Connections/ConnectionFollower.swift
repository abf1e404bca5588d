import Decode
import Match
import Tables

/// Follows every connection that starts with a client SYN, both directions, and hands over a
/// `FollowedConnection` when it ends: after both FINs or a reset (once `closeLinger` has passed,
/// so that a burst of resets is read whole), after `idleTimeout` without a packet, when pushed
/// out of a full table, or at the end of the capture.
///
/// Two bounded tables: connections whose handshake is still open, and connected ones. A flood
/// of spoofed SYNs churns the first and never pushes out a connection that completed its
/// handshake. Records are plain values; the tables hold at most their capacities.
public final class ConnectionFollower {
    /// Cloudflare's stages look at a connection's first ten client packets.
    public static let stagePackets = 10
    /// A client's reset travels as many hops as its other packets; a difference above this
    /// says another host sent it.
    public static let ttlTolerance = 3
    /// Time after a reset or the second FIN in which more resets still belong to the record.
    public static let closeLinger: Int64 = 1_000_000
    /// How often (capture time) the tables are swept for ended and idle records: a sweep reads
    /// every record, so records are written up to this much after their linger or timeout.
    public static let sweepInterval: Int64 = 5_000_000

    /// Memory per followed connection: the record, its key, the index.
    public static let bytesPerRecord = BoundedTable<FlowKey, FollowedConnection>.bytesPerEntry

    public struct Counters: Sendable {
        public var opened = 0
        public var closed = 0
        public var evictedOpening = 0
        public var evictedConnected = 0
        public var following = 0

        public init() {}

        /// Another worker's counts added in.
        public mutating func add(_ o: Counters) {
            opened += o.opened
            closed += o.closed
            evictedOpening += o.evictedOpening
            evictedConnected += o.evictedConnected
            following += o.following
        }
    }

    private var opening: BoundedTable<FlowKey, FollowedConnection>
    private var connected: BoundedTable<FlowKey, FollowedConnection>
    private let idleTimeout: Int64
    private var lastSweep: Int64 = 0
    private var ended: [FlowKey] = []
    public private(set) var counters = Counters()

    /// `capacity` connections in all, split evenly between opening and connected ones.
    public init(capacity: Int, idleTimeout: Int) {
        opening = BoundedTable(capacity: max(capacity / 2, 1))
        connected = BoundedTable(capacity: max(capacity - capacity / 2, 1))
        self.idleTimeout = Int64(max(idleTimeout, 1)) * 1_000_000
    }

    /// The tables' key: the same for segments either way, so that a segment costs one lookup
    /// per table (the record knows its client).
    static func tableKey(_ key: FlowKey) -> FlowKey { key.unordered }

    /// A client SYN opens a record (a repeated SYN keeps the first).
    public func opened(_ syn: SynObservation, closed: (FollowedConnection) -> Void) {
        let record = FollowedConnection(syn)
        if record.start - lastSweep >= ConnectionFollower.sweepInterval { sweep(at: record.start, closed: closed) }
        let key = Self.tableKey(record.key)
        if let slot = opening.slot(of: key) {
            opening.update(slot: slot) { existing in
                existing.client.count(syn.fingerprint.segment)
                existing.last = record.start
            }
            return
        }
        guard connected.slot(of: key) == nil else { return }
        counters.opened += 1
        if var pushed = opening.insert(record, for: key)?.value {
            counters.evictedOpening += 1
            pushed.ending = .evicted
            counters.closed += 1
            closed(pushed)
        }
    }

    /// The server's SYN+ACK (fingerprinted, so its options are read): the handshake's answer,
    /// Fast Open's cookie and whether the SYN's data was acknowledged.
    public func answered(_ synAck: SynObservation, closed: (FollowedConnection) -> Void) {
        let segment = synAck.fingerprint.segment
        let now = Int64(synAck.seconds) &* 1_000_000 &+ Int64(synAck.microseconds)
        if now - lastSweep >= ConnectionFollower.sweepInterval { sweep(at: now, closed: closed) }
        guard let slot = opening.slot(of: Self.tableKey(FlowKey(segment))) else { return }
        opening.update(slot: slot) { record in
            // The server's SYN+ACK, not a SYN+ACK the client sent on a connection the server opened.
            guard record.key.server == segment.ip.source && record.key.serverPort == segment.sourcePort else { return }
            if record.synAckAt == nil {
                record.synAckAt = now
                record.synAckFlags = segment.flags
                record.serverSequence = segment.sequence
                record.synAckCookie = synAck.fingerprint.options.fastOpenCookieLength
                if record.synPayload > 0 {
                    let acknowledged = record.clientSequence &+ 1 &+ UInt32(truncatingIfNeeded: record.synPayload)
                    record.synDataAcknowledged = segment.acknowledgment == acknowledged
                }
            }
            record.server.count(segment)
            record.last = now
        }
    }

    /// Capture time reached `now` on a packet another worker took: the sweep that packet would
    /// have run here, so that records end at the same capture time whichever worker holds them.
    public func advance(to now: Int64, closed: (FollowedConnection) -> Void) {
        if now - lastSweep >= ConnectionFollower.sweepInterval { sweep(at: now, closed: closed) }
    }

    /// Any other segment: updates the record of its connection, if followed.
    public func segment(_ segment: TCPSegment, seconds: Int, microseconds: Int, closed: (FollowedConnection) -> Void) {
        let now = Int64(seconds) &* 1_000_000 &+ Int64(microseconds)
        if now - lastSweep >= ConnectionFollower.sweepInterval { sweep(at: now, closed: closed) }
        // Most segments belong to connected connections: look there first.
        let key = Self.tableKey(FlowKey(segment))
        func fromClient(_ record: FollowedConnection) -> Bool {
            record.key.clientPort == segment.sourcePort && record.key.client == segment.ip.source
        }
        if let slot = connected.slot(of: key) {
            connected.update(slot: slot) { update(&$0, segment, isClient: fromClient($0), now: now) }
            return
        }
        guard let slot = opening.slot(of: key) else { return }
        let nowConnected = opening.update(slot: slot) { record -> Bool in
            update(&record, segment, isClient: fromClient(record), now: now)
            return record.connected
        }
        guard nowConnected, let record = opening[key] else { return }
        opening.remove(key)
        if var pushed = connected.insert(record, for: key)?.value {
            counters.evictedConnected += 1
            pushed.ending = .evicted
            counters.closed += 1
            closed(pushed)
        }
    }

    private func update(_ record: inout FollowedConnection, _ segment: TCPSegment, isClient: Bool, now: Int64) {
        let flags = segment.flags
        if isClient {
            if flags.contains(.rst) {
                if record.resetAt == nil {
                    record.resetAt = now
                    record.markFINs()
                    record.resetGap = now - record.last
                    record.resetTTL = segment.ip.ttl
                    record.resetIPID = segment.ip.ipID
                }
                let withACK = flags.contains(.ack)
                let ack = segment.acknowledgment
                if record.resets == 0 && record.resetACKs == 0 {
                    record.firstResetAck = ack
                } else if ack != record.firstResetAck {
                    record.resetAcksDiffer = true
                }
                if ack == 0 { record.resetAckZero = true }
                if withACK {
                    record.resetACKs = record.resetACKs &+ (record.resetACKs < 255 ? 1 : 0)
                } else {
                    record.resets = record.resets &+ (record.resets < 255 ? 1 : 0)
                }
            } else if record.resetAt == nil {
                if !flags.contains(.syn) {
                    record.clientPacketsBeforeEnd = record.clientPacketsBeforeEnd &+ (record.clientPacketsBeforeEnd < 255 ? 1 : 0)
                    if segment.payloadLength > 0 {
                        record.dataPacketsBeforeEnd = record.dataPacketsBeforeEnd &+ (record.dataPacketsBeforeEnd < 255 ? 1 : 0)
                    }
                }
                record.clientIPID = segment.ip.ipID
                // The handshake completes with the client's ACK of the server's SYN.
                if !record.connected, let synAckAt = record.synAckAt, flags.contains(.ack),
                    segment.acknowledgment == record.serverSequence &+ 1
                {
                    record.connected = true
                    record.handshakeRTT = now - synAckAt
                }
            }
            if !record.connected && record.synAckAt == nil && segment.payloadLength > 0 && record.resetAt == nil {
                record.connected = true  // data, so the handshake happened where the capture missed its SYN+ACK
            }
            record.client.count(segment)
        } else {
            if flags.contains(.rst) && record.resetAt == nil {
                record.resetAt = now
                record.markFINs()
            }
            record.server.count(segment)
        }
        if record.finishedAt == nil && record.client.fin && record.server.fin { record.finishedAt = now }
        record.last = now
    }

    /// Ends records whose close has lingered long enough or that have been idle too long;
    /// runs at most once per `sweepInterval` of capture time (the callers check, so that a
    /// packet costs no call).
    private func sweep(at now: Int64, closed: (FollowedConnection) -> Void) {
        lastSweep = now
        for table in [0, 1] {
            ended.removeAll(keepingCapacity: true)
            let check = { (key: FlowKey, record: FollowedConnection) in
                if let end = record.resetAt ?? record.finishedAt, now - end >= ConnectionFollower.closeLinger {
                    self.ended.append(key)
                } else if now - record.last >= self.idleTimeout {
                    self.ended.append(key)
                }
            }
            if table == 0 { opening.forEach(check) } else { connected.forEach(check) }
            for key in ended {
                guard var record = table == 0 ? opening[key] : connected[key] else { continue }
                if table == 0 { opening.remove(key) } else { connected.remove(key) }
                record.ending = ending(of: record, timedOut: record.resetAt == nil && record.finishedAt == nil)
                counters.closed += 1
                closed(record)
            }
        }
        counters.following = opening.count + connected.count
    }

    private func ending(of record: FollowedConnection, timedOut: Bool) -> ConnectionEnding {
        if record.resetAt != nil { return .reset }
        if record.finishedAt != nil { return .fin }
        return timedOut ? .timeout : .captureEnd
    }

    /// The capture ended: every record still followed is handed over.
    public func finish(closed: (FollowedConnection) -> Void) {
        for table in [0, 1] {
            var records: [FollowedConnection] = []
            if table == 0 { opening.forEach { records.append($1) } } else { connected.forEach { records.append($1) } }
            for var record in records.sorted(by: { $0.start < $1.start }) {
                record.ending = ending(of: record, timedOut: false)
                counters.closed += 1
                closed(record)
            }
        }
        opening = BoundedTable(capacity: opening.capacity)
        connected = BoundedTable(capacity: connected.capacity)
        counters.following = 0
    }
}
