import Decode
import Match

/// The verdict stage: keeps the connections waiting for a request and the host history, and
/// judges each request (from the capture, or from a web application through the API).
///
/// It has two sides. The capture side (`follow`, `request`) follows connections and must see
/// every packet in order on one thread. The judging side (`remember`, `judge`) may run on
/// another thread, as long as it gets the SYNs and requests in capture order; the host table
/// it uses is locked, since the APIs read it too.
public final class ConnectionJudge {
    public let tracker: ConnectionTracker
    public let hosts: HostTable
    public let rules: VerdictRules
    /// User-Agents repeat: their claims are remembered (bounded; cleared when full).
    private var claims: [String: ClaimedOS?] = [:]
    private static let claimsLimit = 4096

    public init(rules: VerdictRules = VerdictRules(), maxFlows: Int = 65536, maxHosts: Int = 16384) {
        self.rules = rules
        tracker = ConnectionTracker(capacity: maxFlows)
        hosts = HostTable(capacity: maxHosts, minimumConfidence: rules.minimumConfidence)
    }

    /// Capture side: follow the connection a client SYN opens to its first request.
    public func follow(_ syn: ObservedSYN) {
        tracker.opened(syn)
    }

    /// Capture side: a client segment with payload; the request once its head is complete.
    public func request(in segment: TCPSegment, _ bytes: UnsafeRawBufferPointer, seconds: Int, microseconds: Int) -> HTTPObservation? {
        tracker.segment(segment, in: bytes, seconds: seconds, microseconds: microseconds)
    }

    /// Judging side: a client SYN, remembered for its host.
    public func remember(_ syn: ObservedSYN) {
        hosts.record(syn)
    }

    /// Judging side: the verdict on a request read from the capture (kept with its connection).
    public func judge(_ observation: HTTPObservation) -> Verdict {
        hosts.attach(observation.request, to: observation.syn.key)
        return judge(observation.syn, observation.request, claimed: claim(observation.request), at: observation.seconds)
    }

    /// The OS a request's User-Agent claims, from a cache of recent User-Agents (judging side).
    public func claim(_ request: HTTPRequestHead) -> ClaimedOS? {
        guard request.platformHint == nil, let ua = request.userAgent else {
            return UserAgentRules.claimedOS(userAgent: request.userAgent, platformHint: request.platformHint)
        }
        if let known = claims[ua] { return known }
        if claims.count >= ConnectionJudge.claimsLimit { claims.removeAll(keepingCapacity: true) }
        let claimed = UserAgentRules.claimedOS(userAgent: ua)
        claims[ua] = claimed
        return claimed
    }

    public func judge(_ syn: ObservedSYN, _ request: HTTPRequestHead, at time: Int) -> Verdict {
        judge(syn, request, claimed: UserAgentRules.claimedOS(userAgent: request.userAgent, platformHint: request.platformHint), at: time)
    }

    func judge(_ syn: ObservedSYN, _ request: HTTPRequestHead, claimed: ClaimedOS?, at time: Int) -> Verdict {
        rules.verdict(
            claimed: claimed,
            classification: syn.classification, link: syn.link,
            proxyHeaders: !request.proxyHeaders.isEmpty,
            ipSharing: hosts.sharing(syn.fingerprint.ip.source, at: time))
    }

    /// A web application's check: the latest connection of `address` (the one from `port` when
    /// given) judged against the User-Agent and headers it saw. Nil when the sensor has no SYN
    /// from there.
    public func check(address: IPAddress, port: UInt16?, userAgent: String?, headers: [(String, String)],
                      at time: Int) -> (ConnectionRecord, HTTPRequestHead, Verdict)? {
        guard let host = hosts.host(address) else { return nil }
        guard let connection = port.map({ host.connection(port: $0) }) ?? host.latest else { return nil }
        var request = HTTPRequestHead(method: "")
        for (name, value) in headers { request.take(header: name, value: value) }
        if let userAgent { request.userAgent = userAgent }
        return (connection, request, judge(connection.syn, request, at: time))
    }
}
