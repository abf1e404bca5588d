import FlowStats
import Match

/// One connection of a host as the sensor saw it: the SYN, and the request or the TLS library
/// of the ClientHello when one was read.
public struct ConnectionRecord: Sendable {
    public var syn: SynObservation
    public var request: HTTPRequestHead?
    public var tls: TLSClient?
}

/// What is known about one client address: p0f's host record, plus its latest connections.
public struct HostRecord: Sendable {
    public var firstSeen: Int
    public var lastSeen: Int
    public var connections: Int
    /// When the address last showed a second stack (p0f's `last_nat`) and last changed OS.
    public var lastSharing: Int?
    public var lastChange: Int?
    /// When the address's flow statistics last met tunnel rules, and which (`--flow-stats`).
    public var tunnelFlow: (seen: Int, rules: TunnelFlowRules)?
    /// The latest connections, newest first (at most `HostTable.kept`).
    public var recent: [ConnectionRecord]

    public var latest: ConnectionRecord? { recent.first }

    public func connection(port: UInt16) -> ConnectionRecord? {
        recent.first { $0.syn.fingerprint.segment.sourcePort == port }
    }
}
