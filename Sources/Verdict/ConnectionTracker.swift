import Decode
import Features
import Match

/// Follows connections from their SYN to their first HTTP/1.x request head, which may span
/// segments. The table is bounded: when it is full the oldest connection is dropped, and a
/// connection whose request does not come within `timeout` seconds is forgotten.
public final class ConnectionTracker {
    public struct Counters: Sendable {
        public var tracked = 0  // client SYNs entered
        public var requests = 0  // request heads read
        public var notHTTP = 0  // first payload was not an HTTP/1.x request
        public var tooLong = 0  // no end of head within the limit
        public var gaps = 0  // a segment was missing (lost or out of order)
        public var snaplenCut = 0  // the capture cut a segment of an unfinished head
        public var expired = 0  // no request within the timeout
        public var evicted = 0  // pushed out by newer connections while still waiting
    }

    struct Pending {
        var syn: SynObservation
        var nextSequence: UInt32
        var buffered: [UInt8] = []
    }

    public private(set) var counters = Counters()
    private var table: BoundedTable<FlowKey, Pending>
    let timeout: Int

    public init(capacity: Int, timeout: Int) {
        table = BoundedTable(capacity: capacity)
        self.timeout = timeout
    }

    public var waiting: Int { table.count }

    /// Starts following the connection a client SYN opens.
    public func opened(_ syn: SynObservation) {
        counters.tracked += 1
        let pending = Pending(syn: syn, nextSequence: syn.fingerprint.segment.sequence &+ 1)
        if let pushed = table.insert(pending, for: syn.key) {
            if syn.seconds - pushed.value.syn.seconds > timeout { counters.expired += 1 } else { counters.evicted += 1 }
        }
    }

    /// Feeds a segment with payload; returns the request once its head is complete.
    public func segment(_ segment: TCPSegment, in bytes: UnsafeRawBufferPointer, seconds: Int, microseconds: Int) -> HTTPObservation? {
        guard segment.payloadLength > 0, table.count > 0 else { return nil }
        let key = FlowKey(segment)
        guard let slot = table.slot(of: key) else { return nil }
        // Work on the entry in place: copying it out would copy the whole fingerprint.
        enum Step { case keep, drop, done(HTTPRequestHead) }
        let step: Step = table.update(slot: slot) { pending in
            if seconds - pending.syn.seconds > timeout {
                counters.expired += 1
                return .drop
            }
            let offset = Int32(bitPattern: segment.sequence &- pending.nextSequence)
            if offset < 0 { return .keep }  // a retransmission of bytes already read
            if offset > 0 {
                counters.gaps += 1
                return .drop
            }
            let data = segment.payload(in: bytes)
            let cut = data.count < segment.payloadLength
            let result: HTTPParse
            if pending.buffered.isEmpty {
                result = HTTPRequestParser.parse(data)
            } else {
                pending.buffered.append(contentsOf: data)
                result = pending.buffered.withUnsafeBytes { HTTPRequestParser.parse($0) }
            }
            switch result {
            case .complete(let request):
                counters.requests += 1
                return .done(request)
            case .incomplete where !cut:
                if pending.buffered.isEmpty { pending.buffered = Array(data) }
                pending.nextSequence &+= UInt32(segment.payloadLength)
                return .keep
            case .incomplete:
                counters.snaplenCut += 1
            case .notHTTP:
                counters.notHTTP += 1
            case .tooLong:
                counters.tooLong += 1
            }
            return .drop
        }
        switch step {
        case .keep:
            return nil
        case .drop:
            table.remove(key)
            return nil
        case .done(let request):
            let syn = table[slot: slot].syn
            table.remove(key)
            return HTTPObservation(seconds: seconds, microseconds: microseconds, syn: syn, request: request)
        }
    }
}
