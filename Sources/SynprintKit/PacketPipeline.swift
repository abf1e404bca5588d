import Decode
import Features
import Match
import Verdict

/// What the capture side of the pipeline produces from one packet.
public enum CaptureEvent: Sendable {
    case syn(SynObservation)          // a SYN or SYN+ACK, fingerprinted (and matched)
    case request(HTTPObservation)     // the first request of a followed connection
}

/// The capture side of the pipeline: decode → features → match and path, and client
/// connections followed to their first request. It must see every packet, in order, on one
/// thread. A packet that is not a SYN costs no allocation; a SYN costs none either.
public final class PacketPipeline {
    public private(set) var counters = PacketCounters()
    public let matcher: Matcher?
    /// Follows connections to their request (`--http`); nil when nothing judges requests.
    public let tracker: ConnectionTracker?

    public init(matcher: Matcher?, tracker: ConnectionTracker?) {
        self.matcher = matcher
        self.tracker = tracker
    }

    /// SYNs and SYN+ACKs fingerprinted so far.
    public var fingerprinted: Int { counters.syn + counters.synAck }

    /// Decodes one packet; at most one event comes of it.
    public func process(_ packet: Packet, link: LinkType) -> CaptureEvent? {
        counters.packets += 1
        switch PacketDecoder.decode(packet.bytes, link: link) {
        case .skipped(let reason):
            counters.count(reason)
        case .malformed(let reason):
            counters.count(reason)
        case .tcp(let segment):
            guard segment.isSYN else {
                counters.count(.notSYN)
                guard let observation = tracker?.segment(segment, in: packet.bytes, seconds: packet.seconds,
                                                         microseconds: packet.microseconds) else { return nil }
                return .request(observation)
            }
            let fingerprint = Fingerprint(segment, in: packet.bytes)
            if fingerprint.direction == .syn { counters.syn += 1 } else { counters.synAck += 1 }
            if fingerprint.quirks.contains(.malformedOptions) { counters.badOptions += 1 }
            var syn = SynObservation(seconds: packet.seconds, microseconds: packet.microseconds, fingerprint: fingerprint)
            if let matcher { (syn.classification, syn.path) = matcher.match(fingerprint) }
            if let tracker, fingerprint.direction == .syn { tracker.opened(syn) }
            return .syn(syn)
        }
        return nil
    }
}
