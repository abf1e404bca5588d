import Decode
import Tables

/// One direction of a client's traffic over a window: counts, payload entropy, the intervals
/// between new data segments, and payload lengths. Fixed-size: windows hold no references.
public struct DirectionStats: Sendable {
    public var packets: UInt32 = 0
    public var dataPackets: UInt32 = 0
    /// Payload bytes as the IP headers say (a snaplen does not shorten them).
    public var bytes: UInt64 = 0
    /// The entropy of new data segments of 16 captured bytes or more.
    public var entropy = EntropyTally()
    /// New data segments by the time since the previous one: up to 1 ms, 10 ms, 100 ms, 1 s, more.
    public var intervals = InlineArray<5, UInt32>(repeating: 0)
    public var intervalSum: Int64 = 0
    public var intervalCount: UInt32 = 0
    /// Data segments by payload length in bins of 100 bytes; the last also holds longer ones
    /// (segmentation offload merges full-sized segments before the capture sees them).
    public var lengthBins = InlineArray<15, UInt32>(repeating: 0)
    /// The most frequent payload lengths (Misra–Gries summary: exact for the top one or two
    /// when they stand out, bounded whatever the traffic).
    public var frequent = InlineArray<4, (length: UInt16, count: UInt32)>(repeating: (0, 0))
    public var acks: UInt32 = 0
    public var pushes: UInt32 = 0
    var lastDataAt: Int64 = -1
    var lastSequence: UInt32 = 0

    public static let fullSize = 1500

    /// Counts a segment; true when it carried new data (not a retransmission), whose entropy
    /// then counts too (`EntropyTally`, here or on the output thread).
    mutating func count(_ segment: TCPSegment, at now: Int64) -> Bool {
        packets &+= 1
        if segment.flags.contains(.ack) {
            acks &+= 1
            if segment.flags.contains(.psh) { pushes &+= 1 }
        }
        let length = segment.payloadLength
        guard length > 0 else { return false }
        // A retransmission repeats the sequence number: counted once for timing and lengths.
        if lastDataAt >= 0 && segment.sequence == lastSequence { return false }
        dataPackets &+= 1
        bytes &+= UInt64(length)
        if lastDataAt >= 0 {
            let interval = now - lastDataAt
            let bin = interval < 1000 ? 0 : interval < 10_000 ? 1 : interval < 100_000 ? 2 : interval < 1_000_000 ? 3 : 4
            intervals[bin] &+= 1
            intervalSum &+= interval
            intervalCount &+= 1
        }
        lastDataAt = now
        lastSequence = segment.sequence
        lengthBins[min((length - 1) / 100, 14)] &+= 1
        remember(UInt16(min(length, DirectionStats.fullSize)))
        return true
    }

    private mutating func remember(_ length: UInt16) {
        for i in 0..<4 where frequent[i].count > 0 && frequent[i].length == length {
            frequent[i].count &+= 1
            return
        }
        for i in 0..<4 where frequent[i].count == 0 {
            frequent[i] = (length, 1)
            return
        }
        for i in 0..<4 { frequent[i].count -= 1 }
    }

    /// The most and second most frequent payload lengths, with their counts.
    public var mostFrequent: [(length: Int, count: Int)] {
        var all: [(length: Int, count: Int)] = []
        for i in 0..<4 where frequent[i].count > 0 { all.append((Int(frequent[i].length), Int(frequent[i].count))) }
        return Array(all.sorted { $0.count > $1.count }.prefix(2))
    }

    public var intervalMean: Double? { intervalCount > 0 ? Double(intervalSum) / Double(intervalCount) / 1e6 : nil }
    public var meanLength: Double? { dataPackets > 0 ? Double(bytes) / Double(dataPackets) : nil }
}

/// Entropy of data segments: min, mean and max, and the bytes it was computed from.
public struct EntropyTally: Sendable {
    /// Segments with fewer captured bytes say little about their entropy.
    public static let minimumBytes = 16

    /// Payload bytes the entropy was computed from (at most `ByteEntropy.maxBytes` per segment).
    public var bytes: UInt64 = 0
    public var min: Float = 8
    public var max: Float = 0
    public var sum: Float = 0
    public var count: UInt32 = 0

    public var mean: Float? { count > 0 ? sum / Float(count) : nil }

    /// Counts a segment's payload (as captured) when it holds at least `minimumBytes`.
    public mutating func add(_ payload: UnsafeRawBufferPointer) {
        guard payload.count >= EntropyTally.minimumBytes else { return }
        let (bits, n) = ByteEntropy.of(payload)
        bytes &+= UInt64(n)
        min = Swift.min(min, bits)
        max = Swift.max(max, bits)
        sum += bits
        count &+= 1
    }

    public mutating func merge(_ other: EntropyTally) {
        bytes &+= other.bytes
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
        sum += other.sum
        count &+= other.count
    }
}

/// What one client address sent and received over a window of `FlowStatistics.windowPackets`
/// packets or `windowSeconds` seconds, with the tunnel rules it met.
public struct FlowWindow: Sendable {
    public var client: IPAddress
    /// The server that exchanged most bytes with the client in the window.
    public var server: IPAddress
    public var serverPort: UInt16
    public var start: Int64  // microseconds since the epoch
    public var last: Int64
    public var up = DirectionStats()
    public var down = DirectionStats()
    public var connectionsOpened = 0
    /// Connections by the kind of their first payload (`PayloadKind.rawValue`).
    public var firstPayloads = PerPayloadKind<UInt16>(repeating: 0)
    /// Data packets both ways, by the kind of their connection's first payload.
    public var dataPacketsByFirstPayload = PerPayloadKind<UInt32>(repeating: 0)
    /// The first server name, ALPN protocol and JA4 among the window's ClientHellos.
    public var serverName: String?
    public var alpn: String?
    public var ja4: String?
    /// Bytes of the busiest connection in the window, and how long it had lived by then.
    public var largestConnectionBytes: UInt64 = 0
    public var longestConnection: Int64 = 0
    public var rules: TunnelFlowRules = []
    var id: UInt32

    init(client: IPAddress, server: IPAddress, serverPort: UInt16, at now: Int64, id: UInt32) {
        self.client = client
        self.server = server
        self.serverPort = serverPort
        start = now
        last = now
        self.id = id
    }

    public var packets: UInt32 { up.packets &+ down.packets }
    public var bytes: UInt64 { up.bytes &+ down.bytes }
    public var largestConnectionShare: Double { bytes > 0 ? Double(largestConnectionBytes) / Double(bytes) : 0 }
    public var pushRatio: Double {
        let acks = up.acks &+ down.acks
        return acks > 0 ? Double(up.pushes &+ down.pushes) / Double(acks) : 0
    }
    public var upDownRatio: Double { down.packets > 0 ? Double(up.packets) / Double(down.packets) : Double(up.packets) }
}
