import Decode
import Synchronization

/// Alert rate limits, as Suricata's `threshold: type limit, track by_src`: at most `perHost`
/// alerts per client address per `window` seconds, and `perSecond` in all; the rest are
/// counted as suppressed. The per-address table is bounded: when full it forgets the
/// addresses whose window has passed, and if none has, starts over.
public final class AlertLimiter: Sendable {
    public let perHost: Int
    public let window: Int
    public let perSecond: Int
    static let trackedHosts = 65_536

    private struct State {
        var hosts: [IPAddress: (start: Int, count: Int)] = [:]
        var second = Int.min
        var inSecond = 0
        var suppressed = 0
    }

    private let state = Mutex(State())

    public init(perHost: Int, window: Int, perSecond: Int) {
        self.perHost = perHost
        self.window = window
        self.perSecond = perSecond
    }

    /// Alerts held back so far.
    public var suppressed: Int { state.withLock { $0.suppressed } }

    /// Whether an alert for `address` at `seconds` may be written (and counts it if so).
    public func allow(_ address: IPAddress, at seconds: Int) -> Bool {
        state.withLock { state in
            if seconds != state.second {
                state.second = seconds
                state.inSecond = 0
            }
            var entry = state.hosts[address] ?? (seconds, 0)
            if seconds - entry.start >= window || seconds < entry.start { entry = (seconds, 0) }
            guard entry.count < perHost, state.inSecond < perSecond else {
                state.suppressed += 1
                return false
            }
            entry.count += 1
            state.inSecond += 1
            if state.hosts[address] == nil, state.hosts.count >= AlertLimiter.trackedHosts {
                state.hosts = state.hosts.filter { seconds - $0.value.start < window }
                if state.hosts.count >= AlertLimiter.trackedHosts { state.hosts.removeAll() }
            }
            state.hosts[address] = entry
            return true
        }
    }
}
