/// What happened to every packet read: the exit summary is built from these.
public struct PacketCounters: Sendable {
    public var packets = 0
    public var syn = 0
    public var synAck = 0
    public var badOptions = 0  // fingerprinted, with the `bad` quirk
    public var skipped = [Int](repeating: 0, count: SkipReason.allCases.count)
    public var malformed = [Int](repeating: 0, count: MalformedReason.allCases.count)

    public init() {}

    @inlinable public mutating func count(_ reason: SkipReason) { skipped[reason.rawValue] += 1 }
    @inlinable public mutating func count(_ reason: MalformedReason) { malformed[reason.rawValue] += 1 }
    /// Another worker's counts added in.
    public mutating func add(_ other: PacketCounters) {
        packets += other.packets
        syn += other.syn
        synAck += other.synAck
        badOptions += other.badOptions
        for i in skipped.indices { skipped[i] += other.skipped[i] }
        for i in malformed.indices { malformed[i] += other.malformed[i] }
    }
    public var skippedTotal: Int { skipped.reduce(0, +) }
    public var malformedTotal: Int { malformed.reduce(0, +) }
}
