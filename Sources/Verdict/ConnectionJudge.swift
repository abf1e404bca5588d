import Decode
import Match

/// The verdict stage: keeps the host history and the connections waiting for a request, and
/// judges each request (from the capture, or from a web application through the API).
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

    /// A client SYN: remembered for its host and followed to its first request.
    public func opened(_ syn: ObservedSYN) {
        hosts.record(syn)
        tracker.opened(syn)
    }

    /// A client segment with payload; the request and its verdict once a head is complete.
    public func segment(_ segment: TCPSegment, in bytes: UnsafeRawBufferPointer,
                        seconds: Int, microseconds: Int) -> (HTTPObservation, Verdict)? {
        guard let observation = tracker.segment(segment, in: bytes, seconds: seconds, microseconds: microseconds) else {
            return nil
        }
        hosts.attach(observation.request, to: observation.syn.key)
        return (observation, judge(observation.syn, observation.request, claimed: claim(observation.request), at: seconds))
    }

    /// The capture thread's cached User-Agent rules.
    func claim(_ request: HTTPRequestHead) -> ClaimedOS? {
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
