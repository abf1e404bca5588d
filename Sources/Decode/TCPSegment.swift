/// What the decoder learned about one IP packet carrying TCP. Offsets point into the
/// caller's buffer, which the segment does not own: use it only while that buffer lives.
public struct TCPSegment: Sendable {
    public var ip: IPHeader
    public var tcpOffset: Int  // start of the TCP header in the buffer
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var sequence: UInt32
    public var acknowledgment: UInt32
    public var headerLength: Int  // data offset × 4
    public var flags: TCPFlags
    public var window: UInt16
    public var urgentPointer: UInt16
    public var payloadLength: Int  // as the IP length says

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
