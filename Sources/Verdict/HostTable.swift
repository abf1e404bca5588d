import Decode
import Match
import Synchronization

/// One connection of a host as the sensor saw it: the SYN, and the request when one was read.
public struct ConnectionRecord: Sendable {
    public var syn: ObservedSYN
    public var request: HTTPRequestHead?
}

/// What is known about one client address: p0f's host record, plus its latest connections.
public struct HostRecord: Sendable {
    public var firstSeen: Int
    public var lastSeen: Int
    public var connections = 0
    /// When the address last showed a second stack (p0f's `last_nat`) and last changed OS.
    public var lastSharing: Int?
    public var lastChange: Int?
    /// The latest connections in a ring, stored inline so recording one allocates nothing.
    var ring = InlineArray<4, ConnectionRecord?>(repeating: nil)
    var newest = 3

    /// The latest connections, newest first.
    public var recent: [ConnectionRecord] {
        (0..<4).compactMap { ring[(newest - $0 + 4) % 4] }
    }

    public var latest: ConnectionRecord? { ring[newest] }

    public func connection(port: UInt16) -> ConnectionRecord? {
        recent.first { $0.syn.fingerprint.segment.sourcePort == port }
    }

    mutating func add(_ connection: ConnectionRecord) {
        newest = (newest + 1) % 4
        ring[newest] = connection
    }

    /// Runs `body` on each kept connection in place, newest first, until it returns true.
    mutating func firstConnection(where match: (ConnectionRecord) -> Bool, _ body: (inout ConnectionRecord) -> Void) {
        for age in 0..<4 {
            let i = (newest - age + 4) % 4
            if let record = ring[i], match(record) {
                body(&ring[i]!)
                return
            }
        }
    }
}

/// Per-client history shared by the capture loop, the HTTP API and the p0f socket: bounded
/// (the oldest host goes first when full) and locked, since the API reads it from other threads.
public final class HostTable: Sendable {
    struct State {
        var hosts: BoundedTable<IPAddress, HostRecord>
        var evicted = 0
    }

    private let state: Mutex<State>
    /// How long two different stacks from one address count as shared use (p0f uses minutes).
    public let sharingWindow: Int
    /// A stack's family counts only when the matcher is at least this sure of it.
    public let minimumConfidence: Float

    public init(capacity: Int = 16384, sharingWindow: Int = 600, minimumConfidence: Float = 0.8) {
        state = Mutex(State(hosts: BoundedTable(capacity: capacity)))
        self.sharingWindow = sharingWindow
        self.minimumConfidence = minimumConfidence
    }

    public var count: Int { state.withLock { $0.hosts.count } }
    public var evicted: Int { state.withLock { $0.evicted } }

    /// Records a client SYN; true when the address shows another confident OS family within
    /// the sharing window (a NAT, a proxy or a shared VPN exit).
    @discardableResult
    public func record(_ syn: ObservedSYN) -> Bool {
        let address = syn.fingerprint.ip.source
        let family = confidentFamily(syn.classification)
        return state.withLock { state in
            guard let slot = state.hosts.slot(of: address) else {
                var host = HostRecord(firstSeen: syn.seconds, lastSeen: syn.seconds, connections: 1)
                host.add(ConnectionRecord(syn: syn))
                if state.hosts.insert(host, for: address) != nil { state.evicted += 1 }
                return false
            }
            return state.hosts.update(slot: slot) { host in
                var shared = false
                if let family {
                    var newestConfident: (seconds: Int, family: OSFamily)?
                    for age in 0..<4 {
                        let i = (host.newest - age + 4) % 4
                        guard let seconds = host.ring[i]?.syn.seconds,
                              let other = confidentFamily(host.ring[i]?.syn.classification) else { continue }
                        if newestConfident == nil { newestConfident = (seconds, other) }
                        if other != family, syn.seconds - seconds <= sharingWindow { shared = true }
                    }
                    if let previous = newestConfident, previous.family != family { host.lastChange = syn.seconds }
                }
                if shared { host.lastSharing = syn.seconds }
                host.lastSeen = syn.seconds
                host.connections += 1
                host.add(ConnectionRecord(syn: syn))
                return shared
            }
        }
    }

    /// Attaches the request read on a connection to its record, if the record is still kept.
    public func attach(_ request: HTTPRequestHead, to key: FlowKey) {
        state.withLock { state in
            guard let slot = state.hosts.slot(of: key.client) else { return }
            state.hosts.update(slot: slot) { host in
                host.firstConnection(where: { $0.syn.key == key }) { $0.request = request }
            }
        }
    }

    public func host(_ address: IPAddress) -> HostRecord? {
        state.withLock { $0.hosts[address] }
    }

    /// True when the host showed a second stack within the sharing window before `time`.
    public func sharing(_ address: IPAddress, at time: Int) -> Bool {
        // Read in place: a copy of the record would copy its four connections.
        guard let last = state.withLock({ state in
            state.hosts.slot(of: address).flatMap { slot in state.hosts.update(slot: slot) { $0.lastSharing } }
        }) else {
            return false
        }
        return time - last <= sharingWindow
    }

    func confidentFamily(_ c: Classification?) -> OSFamily? {
        guard let c, c.decision != .unknown, c.familyConfidence >= minimumConfidence else { return nil }
        return c.family
    }
}
