import Decode
import FlowStats
import Match
import Synchronization
import Tables

/// Per-client history shared by the output thread, the HTTP API and the p0f socket: bounded and
/// locked, since the APIs read it from their own threads.
///
/// When the table is full, a host without evidence of being a real client goes first (oldest
/// first): a spoofed SYN flood brings only such hosts, so it cannot push out the clients that
/// completed a handshake (sent data) or sent a request, which the lookups are asked about.
/// Evidence lapses after `evidenceLifetime` seconds without a SYN; when every host has recent
/// evidence, the one least recently active goes (a second-chance clock).
public final class HostTable: Sendable {
    /// Connections kept per host.
    public static let kept = 4

    /// The per-host part read on every SYN: plain values only, so that placing or evicting a
    /// host moves a few words. The connections themselves live in a side array, `kept` per
    /// host slot, written in place.
    struct Host {
        var firstSeen: Int
        var lastSeen: Int
        var connections = 0
        var lastSharing: Int?
        var lastChange: Int?
        /// The host completed a handshake or sent a request (not a spoofed source).
        var evidence = false
        /// The tunnel rules the address's flow statistics last met, and when (`--flow-stats`).
        var tunnelRules = TunnelFlowRules()
        var tunnelFlowSeen = 0
        /// Active since the clock last passed (the second chance among hosts with evidence).
        var recentlyActive = true
        /// Ring position of the newest connection, and each kept connection's time and
        /// confident OS family (nil when the matcher was unsure). 4 is `kept`.
        var newest = HostTable.kept - 1
        var stacks = InlineArray<4, (seconds: Int, family: OSFamily?)?>(repeating: nil)

        /// Ring positions, newest first.
        var ringPositionsNewestFirst: LazyMapSequence<Range<Int>, Int> { HostTable.positions(newest: newest) }

        /// Counts a connection and takes its ring position; `shared` when it shows another
        /// confident family than a kept connection within `window` seconds.
        mutating func add(seconds: Int, family: OSFamily?, window: Int) -> (position: Int, shared: Bool) {
            var shared = false
            if let family {
                var newestConfident: OSFamily?
                for i in ringPositionsNewestFirst {
                    guard let seen = stacks[i], let other = seen.family else { continue }
                    if newestConfident == nil { newestConfident = other }
                    if other != family, seconds - seen.seconds <= window { shared = true }
                }
                if let previous = newestConfident, previous != family { lastChange = seconds }
            }
            if shared { lastSharing = seconds }
            lastSeen = max(lastSeen, seconds)
            connections += 1
            recentlyActive = true
            newest = (newest + 1) % HostTable.kept
            stacks[newest] = (seconds, family)
            return (newest, shared)
        }
    }

    /// How many hosts were pushed out, and how many of those had evidence.
    public struct Evictions: Sendable, Equatable {
        public var total = 0
        public var withEvidence = 0
    }

    struct State {
        var index: [IPAddress: Int] = [:]
        var keys: [IPAddress?] = []
        var hosts: [Host] = []
        var connections: [ConnectionRecord?] = []
        var hand = 0
        var evictions = Evictions()
        /// Slots of hosts placed without evidence, oldest first: the first to go. An entry goes
        /// stale when its host gains evidence, and is skipped when its turn comes.
        var unproven: [Int] = []
        var unprovenHead = 0
        var unprovenCount = 0

        mutating func pushUnproven(_ slot: Int, limit: Int) {
            if unproven.count < limit { unproven.append(0) }
            if unprovenCount == unproven.count {  // full: the oldest entry is dropped
                unprovenHead = (unprovenHead + 1) % unproven.count
                unprovenCount -= 1
            }
            unproven[(unprovenHead + unprovenCount) % unproven.count] = slot
            unprovenCount += 1
        }

        mutating func popUnproven() -> Int? {
            guard unprovenCount > 0 else { return nil }
            let slot = unproven[unprovenHead]
            unprovenHead = (unprovenHead + 1) % unproven.count
            unprovenCount -= 1
            return slot
        }
    }

    private let state: Mutex<State>
    public let capacity: Int
    /// How long two different stacks from one address count as shared use (p0f uses minutes).
    public let sharingWindow: Int
    /// A stack's family counts only when the matcher is at least this sure of it.
    public let minimumConfidence: Float
    /// Seconds without a SYN after which a host's evidence no longer protects it.
    public let evidenceLifetime: Int
    /// User-Agents and other request text, stored once however many connections repeat them.
    private let strings: StringInterner

    public init(
        capacity: Int, sharingWindow: Int, minimumConfidence: Float, evidenceLifetime: Int = 3600,
        strings: StringInterner = StringInterner(budget: 4 << 20)
    ) {
        precondition(capacity > 0)
        var state = State()
        // Room up front: growing copied each kept connection (retaining what it holds) at every
        // doubling, 6 % of the output thread's time on the mixed benchmark. The pages are touched
        // only as hosts arrive; as for `BoundedTable`, a very large table still grows.
        let room = min(capacity, BoundedTable<IPAddress, Int>.reserved)
        state.keys.reserveCapacity(room)
        state.hosts.reserveCapacity(room)
        state.connections.reserveCapacity(room * HostTable.kept)
        self.state = Mutex(state)
        self.capacity = capacity
        self.sharingWindow = sharingWindow
        self.minimumConfidence = minimumConfidence
        self.evidenceLifetime = evidenceLifetime
        self.strings = strings
    }

    public var count: Int { state.withLock { $0.index.count } }

    /// What one host costs: its summary, its kept connections and its index entry; its request
    /// text is interned within a budget of its own.
    public static let bytesPerHost =
        MemoryLayout<Host>.stride + MemoryLayout<IPAddress?>.stride
        + kept * MemoryLayout<ConnectionRecord?>.stride + 2 * MemoryLayout<Int>.stride + 64
    public var evictions: Evictions { state.withLock { $0.evictions } }

    /// Records a client SYN; true when the address shows another confident OS family within
    /// the sharing window (a NAT, a proxy or a shared VPN exit).
    @discardableResult
    public func record(_ syn: SynObservation) -> Bool {
        let address = syn.fingerprint.ip.source
        let family = confidentFamily(syn.classification)
        return state.withLock { state in
            let slot: Int
            let added: (position: Int, shared: Bool)
            if let known = state.index[address] {
                slot = known
                added = state.hosts[slot].add(seconds: syn.seconds, family: family, window: sharingWindow)
            } else {
                var host = Host(firstSeen: syn.seconds, lastSeen: syn.seconds)
                added = host.add(seconds: syn.seconds, family: family, window: sharingWindow)
                slot = place(host, for: address, at: syn.seconds, in: &state)
            }
            state.connections[slot * HostTable.kept + added.position] = ConnectionRecord(syn: syn)
            return added.shared
        }
    }

    /// A free slot for a new host, or the slot of the host evicted for it.
    private func place(_ host: Host, for address: IPAddress, at now: Int, in state: inout State) -> Int {
        let slot: Int
        if state.keys.count < capacity {
            slot = state.keys.count
            state.keys.append(address)
            state.hosts.append(host)
            state.connections.append(contentsOf: repeatElement(nil, count: HostTable.kept))
        } else {
            slot = victim(at: now, in: &state)
            let evicted = state.hosts[slot]
            state.evictions.total += 1
            if evicted.evidence { state.evictions.withEvidence += 1 }
            if let old = state.keys[slot] { state.index[old] = nil }
            state.keys[slot] = address
            state.hosts[slot] = host
            for i in slot * HostTable.kept..<(slot + 1) * HostTable.kept { state.connections[i] = nil }
        }
        state.index[address] = slot
        state.pushUnproven(slot, limit: 2 * capacity)
        return slot
    }

    /// The slot to reuse: the oldest host placed without evidence that still has none (a flood
    /// of spoofed SYNs goes first, in O(1) per new host); when there is none, the next host in
    /// clock order whose evidence has expired, among the next `victimScan`; else the next one
    /// not active since the clock last passed (second chance: O(1) on average).
    private func victim(at now: Int, in state: inout State) -> Int {
        while let slot = state.popUnproven() {
            if !state.hosts[slot].evidence { return slot }
        }
        for _ in 0..<min(capacity, HostTable.victimScan) {
            let slot = state.hand
            state.hand = (slot + 1) % capacity
            let host = state.hosts[slot]
            if !host.evidence || now - host.lastSeen > evidenceLifetime { return slot }
        }
        while true {
            let slot = state.hand
            state.hand = (slot + 1) % capacity
            if !state.hosts[slot].recentlyActive { return slot }
            state.hosts[slot].recentlyActive = false
        }
    }

    static let victimScan = 64

    /// The address's traffic met tunnel rules (a closed flow-statistics window).
    public func markTunnelFlow(_ address: IPAddress, rules: TunnelFlowRules, at time: Int) {
        state.withLock { state in
            guard let slot = state.index[address] else { return }
            state.hosts[slot].tunnelRules = rules
            state.hosts[slot].tunnelFlowSeen = time
            state.hosts[slot].evidence = true
        }
    }

    /// The tunnel rules the address met within `evidenceLifetime` of `time`.
    public func tunnelRules(_ address: IPAddress, at time: Int) -> TunnelFlowRules {
        state.withLock { state in
            guard let slot = state.index[address], time - state.hosts[slot].tunnelFlowSeen <= evidenceLifetime else { return [] }
            return state.hosts[slot].tunnelRules
        }
    }

    /// The client of `key` completed its handshake (it sent data).
    public func markEstablished(_ address: IPAddress) {
        state.withLock { state in
            guard let slot = state.index[address] else { return }
            state.hosts[slot].evidence = true
            state.hosts[slot].recentlyActive = true
        }
    }

    /// Attaches the request read on a connection to its record, if the record is still kept;
    /// its text is stored once (interned) and cut to `HTTPRequestHead.keptLength`.
    public func attach(_ request: HTTPRequestHead, to key: FlowKey) {
        let kept = strings.intern(request)
        update(key) { $0.request = kept }
    }

    /// Attaches the TLS library of a connection's ClientHello to its record, if still kept: the
    /// web application's check of that connection (`/v1/check`, `/v1/auth`) weighs it.
    public func attach(_ tls: TLSClient, to key: FlowKey) {
        update(key) { $0.tls = tls }
    }

    /// The connection's record changed in place, if still kept; its host sent data, so it is
    /// real (evidence) and active.
    private func update(_ key: FlowKey, _ change: (inout ConnectionRecord) -> Void) {
        state.withLock { state in
            guard let slot = state.index[key.client] else { return }
            state.hosts[slot].evidence = true
            state.hosts[slot].recentlyActive = true
            for position in HostTable.positions(newest: state.hosts[slot].newest)
            where state.connections[slot * HostTable.kept + position]?.syn.key == key {
                change(&state.connections[slot * HostTable.kept + position]!)
                return
            }
        }
    }

    /// A copy of what is known about `address` (for the APIs, not per packet).
    public func host(_ address: IPAddress) -> HostRecord? {
        state.withLock { state in
            guard let slot = state.index[address] else { return nil }
            let host = state.hosts[slot]
            return HostRecord(
                firstSeen: host.firstSeen, lastSeen: host.lastSeen, connections: host.connections,
                lastSharing: host.lastSharing, lastChange: host.lastChange,
                tunnelFlow: host.tunnelRules.isEmpty ? nil : (host.tunnelFlowSeen, host.tunnelRules),
                recent: host.ringPositionsNewestFirst.compactMap { state.connections[slot * HostTable.kept + $0] })
        }
    }

    /// True when the host showed a second stack within the sharing window before `time`.
    public func sharing(_ address: IPAddress, at time: Int) -> Bool {
        guard let last = state.withLock({ state in state.index[address].flatMap { state.hosts[$0].lastSharing } }) else {
            return false
        }
        return time - last <= sharingWindow
    }

    static func positions(newest: Int) -> LazyMapSequence<Range<Int>, Int> {
        (0..<kept).lazy.map { (newest - $0 + kept) % kept }
    }

    func confidentFamily(_ c: Classification?) -> OSFamily? {
        guard let c, c.family != .unknown, c.familyConfidence >= minimumConfidence else { return nil }
        return c.family
    }
}
