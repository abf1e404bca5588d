import FlowStats
import Match

/// Why a connection looks proxied or tunnelled. Raw values are the names in the output.
public enum VerdictReason: String, Sendable, CaseIterable {
    case osMismatch = "os_mismatch"  // the User-Agent's OS is not the TCP stack's
    case tunnelMTU = "tunnel_mtu"  // the MSS implies a tunnel or VPN MTU
    case mssClamped = "mss_clamped"  // a middlebox lowered the MSS
    case proxyHeaders = "proxy_headers"  // Via / X-Forwarded-For / Forwarded present
    case ipSharing = "ip_sharing"  // the address showed several stacks recently
    case tunnelFlow = "tunnel_flow"  // the address's flow statistics met a tunnel rule (--flow-stats)
    case tlsMismatch = "tls_mismatch"  // the User-Agent's browser or library is not the ClientHello's TLS library
    case tlsOSMismatch = "tls_os_mismatch"  // the ClientHello's TLS library belongs to another OS than the TCP stack
}

/// The TCP side of a verdict.
public struct StackGuess: Sendable, Equatable {
    public var osClass: OSClass
    public var family: OSFamily
    public var confidence: Float
    public var familyConfidence: Float

    public init(_ c: Classification) {
        osClass = c.osClass
        family = c.family
        confidence = c.confidence
        familyConfidence = c.familyConfidence
    }
}

public struct Verdict: Sendable, Equatable {
    public var flagged: Bool
    public var score: Float
    public var reasons: [VerdictReason]
    public var claimed: ClaimedOS?
    public var stack: StackGuess?
    /// The tunnel rules behind `tunnel_flow`, by name.
    public var tunnelRules = TunnelFlowRules()
    /// The TLS library of the connection's ClientHello, when one was read.
    public var tls: TLSClient?

    /// The reasons as written in events: `tunnel_flow:<rule>` for each tunnel rule.
    public var reasonNames: [String] {
        reasons.flatMap { reason in
            reason == .tunnelFlow && !tunnelRules.isEmpty ? tunnelRules.names.map { "tunnel_flow:\($0)" } : [reason.rawValue]
        }
    }
}

/// A connection's first request with the verdict on it.
public struct JudgedRequest: Sendable {
    public var observation: HTTPObservation
    public var verdict: Verdict

    public init(observation: HTTPObservation, verdict: Verdict) {
        self.observation = observation
        self.verdict = verdict
    }
}
