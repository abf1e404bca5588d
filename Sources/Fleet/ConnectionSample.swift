import Connections
import FlowStats
import Match
import Tables
import Verdict

/// Which connections a sampling sensor keeps in the store (`--clickhouse-sample N`): 1 in N,
/// chosen by a hash of the connection's endpoints, so that every row of a connection (SYN,
/// SYN+ACK, requests, ClientHello, record) is kept or left out together, and every sensor that
/// sees a connection makes the same choice. The kept rows carry N as their `weight`.
public struct ConnectionSample: Sendable {
    public let every: Int

    public init(every: Int) {
        self.every = max(every, 1)
    }

    public func keeps(_ flow: FlowKey) -> Bool {
        guard every > 1 else { return true }
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15
        hash = ConnectionSample.mix(hash ^ flow.client.high)
        hash = ConnectionSample.mix(hash ^ flow.client.low)
        hash = ConnectionSample.mix(hash ^ flow.server.high)
        hash = ConnectionSample.mix(hash ^ flow.server.low)
        hash = ConnectionSample.mix(hash ^ (UInt64(flow.clientPort) << 16 | UInt64(flow.serverPort)))
        return hash % UInt64(every) == 0
    }

    /// A SYN's or SYN+ACK's connection.
    public func keeps(_ syn: SynObservation) -> Bool {
        keeps(FlowKey(syn.fingerprint.segment, fromClient: syn.fingerprint.direction == .syn))
    }

    public func keeps(_ connection: FollowedConnection) -> Bool { keeps(connection.key) }

    public func keeps(_ hello: TLSObservation) -> Bool { keeps(hello.syn.key) }

    /// SplitMix64's finalizer: every input bit reaches every output bit.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
