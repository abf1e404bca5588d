/// The IP fields a fingerprint uses, for either IP version.
public struct IPHeader: Sendable {
    public var version: UInt8
    public var source: IPAddress
    public var destination: IPAddress
    public var ttl: UInt8  // IPv4 TTL or IPv6 hop limit
    public var tos: UInt8  // IPv4 TOS or IPv6 traffic class (DSCP << 2 | ECN)
    public var dontFragment: Bool
    public var reservedBit: Bool  // IPv4 "evil bit" (p0f quirk 0+)
    public var ipID: UInt16  // IPv4 only
    public var flowLabel: UInt32  // IPv6 only
    public var totalLength: Int  // IPv4 total length / IPv6 payload length + 40
    public var optionsLength: Int  // IPv4 options bytes / IPv6 extension header bytes

    public init(
        version: UInt8, source: IPAddress, destination: IPAddress, ttl: UInt8, tos: UInt8,
        dontFragment: Bool, reservedBit: Bool, ipID: UInt16, flowLabel: UInt32,
        totalLength: Int, optionsLength: Int
    ) {
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
