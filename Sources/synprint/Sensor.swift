import Capture
import Decode
import Features
import Match
import Output

/// The per-packet pipeline: decode → features → match → output. A packet that is not a SYN
/// costs no allocation; a SYN costs none either once the output buffer has grown.
final class Sensor {
    var counters = PacketCounters()
    private let matcher: Matcher?
    private let writer: EventWriter
    private let sink: OutputSink
    private let limit: Int?

    init(matcher: Matcher?, format: EventFormat, sink: OutputSink, limit: Int?) {
        self.matcher = matcher
        writer = EventWriter(format: format, database: matcher?.database)
        self.sink = sink
        self.limit = limit
    }

    var fingerprinted: Int { counters.syn + counters.synAck }
    var reachedLimit: Bool { limit.map { fingerprinted >= $0 } ?? false }

    /// Handles one packet; false once `-c` is reached.
    func process(_ packet: CapturedPacket, link: LinkType) -> Bool {
        counters.packets += 1
        switch PacketDecoder.decode(packet.bytes, link: link) {
        case .skipped(let reason):
            counters.count(reason)
        case .malformed(let reason):
            counters.count(reason)
        case .tcp(let segment):
            guard segment.isSYN else {
                counters.count(.notSYN)
                return true
            }
            let fingerprint = Fingerprint(segment, in: packet.bytes)
            if fingerprint.direction == .syn { counters.syn += 1 } else { counters.synAck += 1 }
            if fingerprint.quirks.contains(.malformedOptions) { counters.badOptions += 1 }
            let event = SynEvent(seconds: packet.seconds, microseconds: packet.microseconds,
                                 fingerprint: fingerprint, classification: matcher?.classify(fingerprint))
            writer.write(event, to: sink.buffer)
            sink.commit()
            return !reachedLimit
        }
        return true
    }
}
