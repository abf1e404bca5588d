import Synchronization

/// The OS claimed by each recent User-Agent: most traffic repeats a few User-Agents, and
/// reading one takes longer than looking it up. Bounded: cleared when full. Locked, since the
/// API's checks run on other threads than the capture's requests.
public final class ClaimCache: Sendable {
    static let limit = 4096
    private let claims = Mutex<[String: ClaimedOS?]>([:])

    public init() {}

    /// The OS a request claims; the client hint wins over the User-Agent (not cached: rare).
    public func claimedOS(_ request: HTTPRequestHead) -> ClaimedOS? {
        guard request.platformHint == nil, let userAgent = request.userAgent else {
            return UserAgentRules.claimedOS(userAgent: request.userAgent, platformHint: request.platformHint)
        }
        return claim(HTTPRequestHead.cut(userAgent, to: HTTPRequestHead.keptLength.userAgent))
    }

    func claim(_ userAgent: String) -> ClaimedOS? {
        if let known = claims.withLock({ $0[userAgent] }) { return known }
        let claimed = UserAgentRules.claimedOS(userAgent: userAgent)
        claims.withLock { claims in
            if claims.count >= ClaimCache.limit { claims.removeAll(keepingCapacity: true) }
            claims[userAgent] = claimed
        }
        return claimed
    }
}
