import Decode
import Match
import Synchronization

/// Per-client history shared by the capture loop, the HTTP API and the p0f socket: bounded
/// (the oldest host goes first when full) and locked, since the API reads it from other threads.
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
            lastSeen = seconds
            connections += 1
            newest = (newest + 1) % HostTable.kept
            stacks[newest] = (seconds, family)
            return (newest, shared)
        }
    }

    struct State {
        var hosts: BoundedTable<IPAddress, Host>
        var connections: [ConnectionRecord?] = []
        var evicted = 0
    }

    private let state: Mutex<State>
    /// How long two different stacks from one address count as shared use (p0f uses minutes).
    public let sharingWindow: Int
    /// A stack's family counts only when the matcher is at least this sure of it.
    public let minimumConfidence: Float

    public init(capacity: Int, sharingWindow: Int, minimumConfidence: Float) {
        state = Mutex(State(hosts: BoundedTable(capacity: capacity)))
        self.sharingWindow = sharingWindow
        self.minimumConfidence = minimumConfidence
    }

    public var count: Int { state.withLock { $0.hosts.count } }
    public var evicted: Int { state.withLock { $0.evicted } }

    /// Records a client SYN; true when the address shows another confident OS family within
    /// the sharing window (a NAT, a proxy or a shared VPN exit).
    @discardableResult
    public func record(_ syn: SynObservation) -> Bool {
        let address = syn.fingerprint.ip.source
        let family = confidentFamily(syn.classification)
        return state.withLock { state in
            let slot: Int
            let added: (position: Int, shared: Bool)
            if let known = state.hosts.slot(of: address) {
                slot = known
                added = state.hosts.update(slot: slot) { $0.add(seconds: syn.seconds, family: family, window: sharingWindow) }
            } else {
                var host = Host(firstSeen: syn.seconds, lastSeen: syn.seconds)
                added = host.add(seconds: syn.seconds, family: family, window: sharingWindow)
                let placed = state.hosts.place(host, for: address)
                slot = placed.slot
                if placed.evicted != nil { state.evicted += 1 }
                // The slot's connections belonged to the evicted host, or do not exist yet.
                let first = slot * HostTable.kept
                if state.connections.count < first + HostTable.kept {
                    state.connections.append(contentsOf: repeatElement(nil, count: first + HostTable.kept - state.connections.count))
                } else {
                    for i in first..<first + HostTable.kept { state.connections[i] = nil }
                }
            }
            state.connections[slot * HostTable.kept + added.position] = ConnectionRecord(syn: syn)
            return added.shared
        }
    }

    /// Attaches the request read on a connection to its record, if the record is still kept.
    public func attach(_ request: HTTPRequestHead, to key: FlowKey) {
        state.withLock { state in
            guard let slot = state.hosts.slot(of: key.client) else { return }
            for position in HostTable.positions(newest: state.hosts[slot: slot].newest)
            where state.connections[slot * HostTable.kept + position]?.syn.key == key {
                state.connections[slot * HostTable.kept + position]?.request = request
                return
            }
        }
    }

    /// A copy of what is known about `address` (for the APIs, not per packet).
    public func host(_ address: IPAddress) -> HostRecord? {
        state.withLock { state in
            guard let slot = state.hosts.slot(of: address) else { return nil }
            let host = state.hosts[slot: slot]
            return HostRecord(
                firstSeen: host.firstSeen, lastSeen: host.lastSeen, connections: host.connections,
                lastSharing: host.lastSharing, lastChange: host.lastChange,
                recent: host.ringPositionsNewestFirst.compactMap { state.connections[slot * HostTable.kept + $0] })
        }
    }

    /// True when the host showed a second stack within the sharing window before `time`.
    public func sharing(_ address: IPAddress, at time: Int) -> Bool {
        guard let last = state.withLock({ state in state.hosts.slot(of: address).flatMap { state.hosts[slot: $0].lastSharing } }) else {
            return false
        }
        return time - last <= sharingWindow
    }

    static func positions(newest: Int) -> LazyMapSequence<Range<Int>, Int> {
        (0..<kept).lazy.map { (newest - $0 + kept) % kept }
    }

    func confidentFamily(_ c: Classification?) -> OSFamily? {
        guard let c, c.osClass != .unknown, c.familyConfidence >= minimumConfidence else { return nil }
        return c.family
    }
}
