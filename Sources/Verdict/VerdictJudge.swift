import Decode
import Match
import Tables

/// The judging side of the verdict stage: the host history and the verdict on each request
/// (read from the capture, or sent by a web application through the API). It must get the SYNs
/// and requests in capture order, but may run on another thread than the capture: the
/// connection tracker (`ConnectionTracker`) stays with the packets. The host table is locked,
/// since the APIs read it from their own threads.
public final class VerdictJudge: Sendable {
    public let hosts: HostTable
    public let rules: VerdictRules
    private let claims: ClaimCache

    public init(rules: VerdictRules, hosts: HostTable) {
        self.rules = rules
        self.hosts = hosts
        claims = ClaimCache()
    }

    /// A client SYN, remembered for its host.
    public func record(_ syn: SynObservation) {
        hosts.record(syn)
    }

    /// The verdict on a request read from the capture; the request is kept with its connection.
    public func judge(_ observation: HTTPObservation) -> Verdict {
        hosts.attach(observation.request, to: observation.syn.key)
        return verdict(observation.syn, observation.request, at: observation.seconds)
    }

    /// The verdict on the connection `syn` opened, for `request` seen at `time`; `tls`, the
    /// library of the connection's ClientHello (an HTTPS request a web application checks).
    public func verdict(_ syn: SynObservation, _ request: HTTPRequestHead, tls: TLSClient? = nil, at time: Int) -> Verdict {
        rules.verdict(
            claimed: claimedOS(request), classification: syn.classification, path: syn.path,
            proxyHeaders: !request.proxyHeaders.isEmpty, ipSharing: hosts.sharing(syn.fingerprint.ip.source, at: time),
            tunnelRules: hosts.tunnelRules(syn.fingerprint.ip.source, at: time),
            // Only a connection with a ClientHello has a library to compare: plain requests skip reading it.
            claimedTLS: tls == nil ? nil : ClaimedTLS.family(userAgent: request.userAgent), tls: tls)
    }

    /// A connection's ClientHello, remembered with its record.
    public func record(_ hello: TLSObservation) {
        if let client = hello.client { hosts.attach(client, to: hello.syn.key) } else { hosts.markEstablished(hello.syn.key.client) }
    }

    /// The OS a request claims. User-Agents repeat, so their claims are cached.
    public func claimedOS(_ request: HTTPRequestHead) -> ClaimedOS? {
        claims.claimedOS(request)
    }

    /// A web application's check: the latest connection of `address` (the one from `port`
    /// when given) judged against the request head it saw. Nil when no SYN from there is kept.
    public func check(
        address: IPAddress, port: UInt16?, request: HTTPRequestHead, at time: Int
    )
        -> (connection: ConnectionRecord, verdict: Verdict)?
    {
        guard let host = hosts.host(address) else { return nil }
        guard let connection = port.map({ host.connection(port: $0) }) ?? host.latest else { return nil }
        return (connection, verdict(connection.syn, request, tls: connection.tls, at: time))
    }
}
