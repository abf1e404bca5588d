import Decode

/// Every feature of one SYN or SYN+ACK, as a value: no references, no heap.
public struct Fingerprint: Sendable {
    public var segment: TCPSegment
    public var options: TCPOptions
    public var quirks: Quirks
    public var initialTTL: UInt8

    public var direction: Direction { segment.flags.contains(.ack) ? .synAck : .syn }
    public var ip: IPHeader { segment.ip }
    /// Hops between sender and sensor, from the initial TTL guess.
    public var distance: Int { Int(initialTTL) - Int(segment.ip.ttl) }
    /// p0f treats more than 35 hops as implausible: the TTL was probably not a default.
    public var distanceIsPlausible: Bool { distance <= 35 }

    /// Extracts the features of a decoded SYN or SYN+ACK. `bytes` is the buffer it was decoded from.
    public init(_ segment: TCPSegment, in bytes: UnsafeRawBufferPointer) {
        self.segment = segment
        options = TCPOptions(bytes, offset: segment.tcpOffset + 20, length: segment.headerLength - 20)
        initialTTL = Fingerprint.initialTTL(for: segment.ip.ttl)
        quirks = Fingerprint.quirks(segment, options)
    }

    /// The smallest common initial TTL at or above the observed one.
    public static func initialTTL(for ttl: UInt8) -> UInt8 {
        switch ttl {
        case 0...32: 32
        case 33...64: 64
        case 65...128: 128
        default: 255
        }
    }

    static func quirks(_ s: TCPSegment, _ o: TCPOptions) -> Quirks {
        var q: Quirks = []
        if s.ip.version == 4 {
            if s.ip.dontFragment {
                q.insert(.dontFragment)
                if s.ip.ipID != 0 { q.insert(.nonZeroIDWithDF) }
            } else if s.ip.ipID == 0 {
                q.insert(.zeroIDWithoutDF)
            }
            if s.ip.reservedBit { q.insert(.reservedIPBit) }
        } else if s.ip.flowLabel != 0 {
            q.insert(.flowLabel)
        }
        if s.ip.tos & 0x03 != 0 || s.flags.contains(.ece) || s.flags.contains(.cwr) || s.flags.contains(.ae) {
            q.insert(.ecn)
        }
        if s.sequence == 0 { q.insert(.zeroSequence) }
        if s.flags.contains(.ack) {
            if s.acknowledgment == 0 { q.insert(.ackFlagWithoutNumber) }
        } else if s.acknowledgment != 0 {
            q.insert(.ackNumberWithoutFlag)
        }
        if s.flags.contains(.urg) {
            q.insert(.urgentFlag)
        } else if s.urgentPointer != 0 {
            q.insert(.urgentPointerWithoutFlag)
        }
        if s.flags.contains(.psh) { q.insert(.pushFlag) }
        if o.timestampValue == 0 { q.insert(.zeroOwnTimestamp) }
        if let echo = o.timestampEcho, echo != 0, !s.flags.contains(.ack) { q.insert(.peerTimestampInSYN) }
        if o.dataAfterEOL { q.insert(.dataAfterEOL) }
        if let scale = o.windowScale, scale > 14 { q.insert(.excessiveWindowScale) }
        if o.malformed { q.insert(.malformedOptions) }
        return q
    }
}
