import Decode
import Features
import Match
import Tables

/// What a client segment with payload meant for its connection.
public enum TrackedSegment: Sendable {
    case none
    /// The first data of a followed connection that is not (yet) a whole request: the client
    /// completed its handshake, so its address is not spoofed.
    case established(IPAddress)
    case request(HTTPObservation)
}

/// Follows connections from their SYN to their first HTTP/1.x request head, which may span
/// segments. The table is bounded: when it is full the oldest connection is dropped, and a
/// connection whose request does not come within `timeout` seconds is forgotten. Heads that
/// span segments are buffered within `headBudget` bytes in all (a flood of never-ending heads
/// cannot grow memory), at most `HTTPRequestParser.maximumHead` each.
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
        public var overBudget = 0  // dropped: the buffered heads were at `headBudget`

        public init() {}

        /// Another worker's counts added in.
        public mutating func add(_ o: Counters) {
            tracked += o.tracked
            requests += o.requests
            notHTTP += o.notHTTP
            tooLong += o.tooLong
            gaps += o.gaps
            snaplenCut += o.snaplenCut
            expired += o.expired
            evicted += o.evicted
            overBudget += o.overBudget
        }
    }

    struct Pending {
        var syn: SynObservation
        var nextSequence: UInt32
        var buffered: [UInt8] = []
    }

    public private(set) var counters = Counters()
    private var table: BoundedTable<FlowKey, Pending>
    let timeout: Int
    public let headBudget: Int
    /// Bytes of unfinished heads held now.
    public private(set) var bufferedBytes = 0

    public init(capacity: Int, timeout: Int, headBudget: Int) {
        table = BoundedTable(capacity: capacity)
        self.timeout = timeout
        self.headBudget = headBudget
    }

    public var waiting: Int { table.count }

    /// What one followed connection costs in its table. Buffered heads have a budget of their own.
    public static let bytesPerConnection = BoundedTable<FlowKey, Pending>.bytesPerEntry

    /// Starts following the connection a client SYN opens.
    public func opened(_ syn: SynObservation) {
        counters.tracked += 1
        let pending = Pending(syn: syn, nextSequence: syn.fingerprint.segment.sequence &+ 1)
        if let pushed = table.insert(pending, for: syn.key) {
            bufferedBytes -= pushed.value.buffered.count
            if syn.seconds - pushed.value.syn.seconds > timeout { counters.expired += 1 } else { counters.evicted += 1 }
        }
    }

    /// Feeds a segment with payload: the request once its head is complete, or that the
    /// connection sent its first data.
    public func segment(_ segment: TCPSegment, in bytes: UnsafeRawBufferPointer, seconds: Int, microseconds: Int) -> TrackedSegment {
        guard segment.payloadLength > 0, table.count > 0 else { return .none }
        let key = FlowKey(segment)
        guard let slot = table.slot(of: key) else { return .none }
        // Work on the entry in place: copying it out would copy the whole fingerprint.
        enum Step { case keep, drop, done(HTTPRequestHead) }
        var first = false
        let step: Step = table.update(slot: slot) { pending in
            first = pending.buffered.isEmpty && pending.nextSequence == pending.syn.fingerprint.segment.sequence &+ 1
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
                guard bufferedBytes + data.count <= headBudget else {
                    counters.overBudget += 1
                    return .drop
                }
                pending.buffered.append(contentsOf: data)
                bufferedBytes += data.count
                result = pending.buffered.withUnsafeBytes { HTTPRequestParser.parse($0) }
            }
            switch result {
            case .complete(let request):
                counters.requests += 1
                return .done(request)
            case .incomplete where !cut:
                if pending.buffered.isEmpty {
                    guard bufferedBytes + data.count <= headBudget else {
                        counters.overBudget += 1
                        return .drop
                    }
                    pending.buffered = Array(data)
                    bufferedBytes += data.count
                }
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
        case .keep, .drop:
            if case .drop = step { remove(key, slot: slot) }
            return first ? .established(key.client) : .none
        case .done(let request):
            let syn = table[slot: slot].syn
            remove(key, slot: slot)
            return .request(HTTPObservation(seconds: seconds, microseconds: microseconds, syn: syn, request: request))
        }
    }

    private func remove(_ key: FlowKey, slot: Int) {
        bufferedBytes -= table[slot: slot].buffered.count
        table.update(slot: slot) { $0.buffered = [] }  // the table keeps a removed value until its slot is reused
        table.remove(key)
    }
}
