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
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    // Inlinable constants rather than `static let`: other modules test flags on every packet,
    // and a stored static costs them an accessor call each time (callgrind).
    @inlinable public static var fin: TCPFlags { TCPFlags(rawValue: 0x001) }
    @inlinable public static var syn: TCPFlags { TCPFlags(rawValue: 0x002) }
    @inlinable public static var rst: TCPFlags { TCPFlags(rawValue: 0x004) }
    @inlinable public static var psh: TCPFlags { TCPFlags(rawValue: 0x008) }
    @inlinable public static var ack: TCPFlags { TCPFlags(rawValue: 0x010) }
    @inlinable public static var urg: TCPFlags { TCPFlags(rawValue: 0x020) }
    @inlinable public static var ece: TCPFlags { TCPFlags(rawValue: 0x040) }
    @inlinable public static var cwr: TCPFlags { TCPFlags(rawValue: 0x080) }
    @inlinable public static var ae: TCPFlags { TCPFlags(rawValue: 0x100) }
}
