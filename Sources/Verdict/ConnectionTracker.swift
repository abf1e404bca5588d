import Decode
import Features
import FlowStats
import Match
import Tables

/// What a client segment with payload meant for its connection.
public enum TrackedSegment: Sendable {
    case none
    /// The first data of a followed connection that is not (yet) a whole request: the client
    /// completed its handshake, so its address is not spoofed.
    case established(IPAddress)
    case request(HTTPObservation)
    /// A connection that began with a TLS ClientHello (read whole, across segments if need be).
    case hello(TLSObservation)
}

/// Follows connections from their SYN to their first HTTP/1.x request head, or their TLS
/// ClientHello, either of which may span segments. The table is bounded: when it is full the
/// oldest connection is dropped, those with a head or hello under way last (a SYN flood's
/// sources send none), and a connection whose request does not come within `timeout` seconds
/// is forgotten. Heads that
/// span segments are buffered within `headBudget` bytes in all (a flood of never-ending heads
/// cannot grow memory), at most `HTTPRequestParser.maximumHead` each.
public final class ConnectionTracker {
    public struct Counters: Sendable {
        public var tracked = 0  // client SYNs entered
        public var requests = 0  // request heads read
        public var hellos = 0  // TLS ClientHellos read
        public var notHTTP = 0  // first payload was neither an HTTP/1.x request nor a ClientHello
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
            hellos += o.hellos
            notHTTP += o.notHTTP
            tooLong += o.tooLong
            gaps += o.gaps
            snaplenCut += o.snaplenCut
            expired += o.expired
            evicted += o.evicted
            overBudget += o.overBudget
        }
    }

    /// What a segment did to its connection.
    enum Step { case keep, drop, done(HTTPRequestHead), hello(ClientHello) }

    struct Pending {
        var syn: SynObservation
        var nextSequence: UInt32
        var buffered: [UInt8] = []
        /// The whole length of the TLS record being read; 0 while the first bytes may be HTTP.
        var helloLength = 0
    }

    public private(set) var counters = Counters()
    private var table: BoundedTable<FlowKey, Pending>
    let timeout: Int
    public let headBudget: Int
    /// Bytes of unfinished heads held now.
    public private(set) var bufferedBytes = 0

    /// The TLS stacks ClientHellos are matched to; nil: hellos are read but not classified.
    let stacks: TLSStacks?

    /// False: only ClientHellos are read (`--tls`); a plain request ends the following.
    let readsRequests: Bool

    public init(capacity: Int, timeout: Int, headBudget: Int, stacks: TLSStacks? = nil, readsRequests: Bool = true) {
        self.stacks = stacks
        self.readsRequests = readsRequests
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
    /// connection sent its first data. `read`: the ClientHello another reader (the flow
    /// statistics) took from this segment, used instead of reading it again when it is whole.
    public func segment(
        _ segment: TCPSegment, in bytes: UnsafeRawBufferPointer, seconds: Int, microseconds: Int, read: ClientHello? = nil
    ) -> TrackedSegment {
        guard segment.payloadLength > 0, table.count > 0 else { return .none }
        let key = FlowKey(segment)
        guard let slot = table.slot(of: key) else { return .none }
        // Work on the entry in place: copying it out would copy the whole fingerprint.
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
            if pending.buffered.isEmpty, let length = ConnectionTracker.helloRecordLength(data) {
                pending.helloLength = length
            }
            if pending.helloLength > 0 { return hello(&pending, data, cut: cut, length: segment.payloadLength, read: read) }
            guard readsRequests else {
                counters.notHTTP += 1
                return .drop
            }
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
            // A head or hello under way comes from a real client: a SYN flood must not end it.
            if case .keep = step { table.keep(slot: slot) }
            if case .drop = step { remove(key, slot: slot) }
            return first ? .established(key.client) : .none
        case .done(let request):
            let syn = table[slot: slot].syn
            remove(key, slot: slot)
            return .request(HTTPObservation(seconds: seconds, microseconds: microseconds, syn: syn, request: request))
        case .hello(let hello):
            let syn = table[slot: slot].syn
            remove(key, slot: slot)
            return .hello(
                TLSObservation(seconds: seconds, microseconds: microseconds, syn: syn, hello: hello, client: stacks?.classify(hello)))
        }
    }

    /// The whole length of the TLS record `data` begins, when it begins a handshake record of
    /// TLS 1.x carrying a ClientHello, as every TLS client's first bytes do.
    static func helloRecordLength(_ data: UnsafeRawBufferPointer) -> Int? {
        guard data.count >= 6, data[0] == 22, data[1] == 3, data[5] == 1 else { return nil }
        return 5 + (Int(data[3]) << 8 | Int(data[4]))
    }

    /// The next bytes of a ClientHello: the hello once its record is whole. Records longer than
    /// TLS allows, a segment the snaplen cut, or the head budget end the reading, counted.
    private func hello(_ pending: inout Pending, _ data: UnsafeRawBufferPointer, cut: Bool, length: Int, read: ClientHello?) -> Step {
        // The same record, read whole by the flow statistics (with its JA4).
        let taken = read.flatMap { $0.complete && $0.ja4 != nil ? $0 : nil }
        guard pending.helloLength <= ClientHello.maximumRecord else {
            counters.tooLong += 1
            return .drop
        }
        if pending.buffered.isEmpty && data.count >= pending.helloLength {
            counters.hellos += 1
            return .hello(taken ?? ClientHello(UnsafeRawBufferPointer(rebasing: data.prefix(pending.helloLength))))
        }
        if cut {
            counters.snaplenCut += 1
            return .drop
        }
        let wanted = min(data.count, pending.helloLength - pending.buffered.count)
        guard bufferedBytes + wanted <= headBudget else {
            counters.overBudget += 1
            return .drop
        }
        pending.buffered.append(contentsOf: data.prefix(wanted))
        bufferedBytes += wanted
        pending.nextSequence &+= UInt32(length)
        guard pending.buffered.count >= pending.helloLength else { return .keep }
        counters.hellos += 1
        return .hello(taken ?? pending.buffered.withUnsafeBytes { ClientHello($0) })
    }

    private func remove(_ key: FlowKey, slot: Int) {
        bufferedBytes -= table[slot: slot].buffered.count
        table.update(slot: slot) { $0.buffered = [] }  // the table keeps a removed value until its slot is reused
        table.remove(key)
    }
}
