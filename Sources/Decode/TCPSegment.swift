/// The IP fields a fingerprint uses, for either IP version.
public struct IPHeader: Sendable {
    public var version: UInt8
    public var source: IPAddress
    public var destination: IPAddress
    public var ttl: UInt8                 // IPv4 TTL or IPv6 hop limit
    public var tos: UInt8                 // IPv4 TOS or IPv6 traffic class (DSCP << 2 | ECN)
    public var dontFragment: Bool
    public var reservedBit: Bool          // IPv4 "evil bit" (p0f quirk 0+)
    public var ipID: UInt16               // IPv4 only
    public var flowLabel: UInt32          // IPv6 only
    public var totalLength: Int           // IPv4 total length / IPv6 payload length + 40
    public var optionsLength: Int         // IPv4 options bytes / IPv6 extension header bytes

    public init(version: UInt8, source: IPAddress, destination: IPAddress, ttl: UInt8, tos: UInt8,
                dontFragment: Bool, reservedBit: Bool, ipID: UInt16, flowLabel: UInt32,
                totalLength: Int, optionsLength: Int) {
        self.version = version
        self.source = source
        self.destination = destination
        self.ttl = ttl
        self.tos = tos
        self.dontFragment = dontFragment
        self.reservedBit = reservedBit
        self.ipID = ipID
        self.flowLabel = flowLabel
        self.totalLength = totalLength
        self.optionsLength = optionsLength
    }
}

/// What the decoder learned about one IP packet carrying TCP. Offsets point into the
/// caller's buffer, which the segment does not own: use it only while that buffer lives.
public struct TCPSegment: Sendable {
    public var ip: IPHeader
    public var tcpOffset: Int             // start of the TCP header in the buffer
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var sequence: UInt32
    public var acknowledgment: UInt32
    public var headerLength: Int          // data offset × 4
    public var flags: TCPFlags
    public var window: UInt16
    public var urgentPointer: UInt16
    public var payloadLength: Int         // as the IP length says

    public var isSYN: Bool { flags.contains(.syn) && !flags.contains(.rst) }
    public var payloadOffset: Int { tcpOffset + headerLength }

    /// The payload bytes the capture holds (the snap length may cut them short).
    public func payload(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let start = min(payloadOffset, bytes.count)
        return UnsafeRawBufferPointer(rebasing: bytes[start..<min(start + payloadLength, bytes.count)])
    }
}

/// The TCP flag bits, with AE (the former NS bit, RFC 9768 AccECN) as bit 8.
public struct TCPFlags: OptionSet, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let fin = TCPFlags(rawValue: 0x001)
    public static let syn = TCPFlags(rawValue: 0x002)
    public static let rst = TCPFlags(rawValue: 0x004)
    public static let psh = TCPFlags(rawValue: 0x008)
    public static let ack = TCPFlags(rawValue: 0x010)
    public static let urg = TCPFlags(rawValue: 0x020)
    public static let ece = TCPFlags(rawValue: 0x040)
    public static let cwr = TCPFlags(rawValue: 0x080)
    public static let ae = TCPFlags(rawValue: 0x100)
}
