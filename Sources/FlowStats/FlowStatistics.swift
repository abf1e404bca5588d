import Decode
import Match
import Tables

/// Windowed flow statistics per client address (`--flow-stats`): every TCP segment to or from
/// an address that sent a SYN counts toward that client's current window, which closes after
/// `windowPackets` packets or `windowSeconds` seconds and is handed over with the tunnel rules
/// it met. Connections are followed for their first payload and their bytes.
///
/// Two bounded tables (clients, connections); a client pushed out loses its open window, and
/// both count what they push out. Clients that acknowledged their server, and connections that
/// sent data, are kept before those that only sent SYNs (`BoundedTable.keep`), so that a
/// spoofed SYN flood pushes out its own sources.
///
/// Entropy is most of the cost per packet. With `entropyElsewhere` set, the payloads go there
/// instead (the sensor's output thread, which has time to spare: `EntropyAccumulator`), and
/// reach the window before the window is handed over.
public final class FlowStatistics {
    /// Entropy work for another thread: a new data segment's payload for a window's direction,
    /// or a window that will never be handed over (its client was pushed out).
    public enum EntropyWork {
        case sample(window: UInt32, upstream: Bool, payload: UnsafeRawBufferPointer)
        case discard(window: UInt32)
    }

    /// Every ClientHello read here gets its JA4: the connection tracker takes them
    /// (`segment`'s result). Without it, a window's later hellos get none (it keeps the first).
    public let everyJA4: Bool
    /// Where the entropy work goes; nil: computed here. A constant: a closure read from a
    /// variable is retained and released around each call, per data segment (perf).
    public let entropyElsewhere: ((EntropyWork) -> Void)?

    public struct Counters: Sendable {
        public var windows = 0
        public var clientsEvicted = 0
        public var connectionsEvicted = 0
        public var clients = 0

        public init() {}

        /// Another worker's counts added in.
        public mutating func add(_ o: Counters) {
            windows += o.windows
            clientsEvicted += o.clientsEvicted
            connectionsEvicted += o.connectionsEvicted
            clients += o.clients
            hellosUnread += o.hellosUnread
        }

        /// ClientHellos longer than their first segment that could not be read whole: a
        /// segment missing or cut by the snaplen, their budget full, or their connection pushed out.
        public var hellosUnread = 0
    }

    struct Connection {
        var start: Int64
        var firstPayload: PayloadKind?
        var window: UInt32 = 0
        var windowBytes: UInt64 = 0
        /// A ClientHello that spans segments (browsers' post-quantum key shares make it longer
        /// than one): its bytes so far, the record's whole length, and the next sequence number.
        var hello: [UInt8] = []
        var helloLength = 0
        var helloSequence: UInt32 = 0
    }

    /// Bytes of ClientHellos held until their last segment, in all, and their bound.
    let helloBudget: Int
    private var helloBytes = 0

    /// Memory per client (with its entropy on the output thread) and per connection (a window's
    /// TLS names are short strings besides).
    public static let bytesPerClient = BoundedTable<IPAddress, FlowWindow>.bytesPerEntry + EntropyAccumulator.bytesPerWindow
    public static let bytesPerConnection = BoundedTable<FlowKey, Connection>.bytesPerEntry

    private var clients: BoundedTable<IPAddress, FlowWindow>
    private var connections: BoundedTable<FlowKey, Connection>
    public var clientCapacity: Int { clients.capacity }
    public static let sweepInterval: Int64 = 5_000_000
    public let windowPackets: UInt32
    public let windowSeconds: Int64
    /// Window ids, unique among the sensor's workers: worker `instance` of `instances` takes
    /// every `instances`-th (the output thread's entropy tallies are keyed by them).
    private var nextID: UInt32
    private let idStep: UInt32
    private var lastSweep: Int64 = 0
    private var due: [IPAddress] = []
    public private(set) var counters = Counters()

    public init(
        clientCapacity: Int, connectionCapacity: Int, windowPackets: Int, windowSeconds: Int, helloBudget: Int = 1 << 20,
        entropyElsewhere: ((EntropyWork) -> Void)? = nil, everyJA4: Bool = false, instance: Int = 0, instances: Int = 1
    ) {
        self.helloBudget = helloBudget
        self.entropyElsewhere = entropyElsewhere
        self.everyJA4 = everyJA4
        nextID = 1 &+ UInt32(truncatingIfNeeded: instance)
        idStep = UInt32(clamping: max(instances, 1))
        clients = BoundedTable(capacity: max(clientCapacity, 1))
        connections = BoundedTable(capacity: max(connectionCapacity, 1))
        self.windowPackets = UInt32(clamping: max(windowPackets, 2))
        self.windowSeconds = Int64(max(windowSeconds, 1)) * 1_000_000
    }

    /// A client SYN: the client's window opens if it has none, and the connection is followed.
    public func opened(_ syn: SynObservation, report: (FlowWindow) -> Void) {
        let s = syn.fingerprint.segment
        let now = Int64(syn.seconds) &* 1_000_000 &+ Int64(syn.microseconds)
        if now - lastSweep >= FlowStatistics.sweepInterval { sweep(at: now, report: report) }
        let key = FlowKey(s)
        if connections.slot(of: key) == nil {
            connections.place(Connection(start: now), for: key) { _, pushed in
                counters.connectionsEvicted += 1
                if !pushed.hello.isEmpty {
                    helloBytes -= pushed.helloLength
                    counters.hellosUnread += 1
                }
            }
        }
        let slot: Int
        if let existing = clients.slot(of: s.ip.source) {
            slot = existing
        } else {
            nextID &+= idStep
            let window = FlowWindow(client: s.ip.source, server: s.ip.destination, serverPort: s.destinationPort, at: now, id: nextID)
            slot = clients.place(window, for: s.ip.source) { _, pushed in
                counters.clientsEvicted += 1
                entropyElsewhere?(.discard(window: pushed.id))
            }
        }
        count(s, payload: UnsafeRawBufferPointer(start: nil, count: 0), fromClient: true, key: key, slot: slot, at: now, report: report)
    }

    /// Capture time reached `now` on a packet another worker took: the sweep that packet would
    /// have run here.
    public func advance(to now: Int64, report: (FlowWindow) -> Void) {
        if now - lastSweep >= FlowStatistics.sweepInterval { sweep(at: now, report: report) }
    }

    /// Any other segment (SYN+ACKs included) of a client's connection.
    /// Returns the ClientHello this segment began or completed, for the connection tracker to
    /// take instead of reading it again (`PacketPipeline`).
    @discardableResult
    public func segment(
        _ s: TCPSegment, in bytes: UnsafeRawBufferPointer, seconds: Int, microseconds: Int, report: (FlowWindow) -> Void
    ) -> ClientHello? {
        let now = Int64(seconds) &* 1_000_000 &+ Int64(microseconds)
        if now - lastSweep >= FlowStatistics.sweepInterval { sweep(at: now, report: report) }
        let fromClient = sentByClient(s)
        guard let slot = clients.slot(of: fromClient ? s.ip.source : s.ip.destination) else { return nil }
        return count(
            s, payload: s.payload(in: bytes), fromClient: fromClient, key: FlowKey(s, fromClient: fromClient), slot: slot, at: now,
            report: report)
    }

    /// Whether the segment's sender is its connection's client: the sender of the SYN when the
    /// connection is followed here, else by the ports (`TCPSegment.fromHigherPort`). A host that
    /// also serves others so keeps only its own connections in its window, and the workers,
    /// which send each connection to its client's worker by the same rule (`Workers`), count
    /// what one pipeline counts.
    @inline(__always)
    private func sentByClient(_ s: TCPSegment) -> Bool {
        let byPort = s.fromHigherPort
        // The other end is the client only when it opened this connection from the lower port.
        guard clients.slot(of: byPort ? s.ip.destination : s.ip.source) != nil else { return byPort }
        return connections.slot(of: FlowKey(s, fromClient: !byPort)) == nil ? byPort : !byPort
    }

    @discardableResult
    private func count(
        _ s: TCPSegment, payload: UnsafeRawBufferPointer, fromClient: Bool, key: FlowKey, slot: Int, at now: Int64,
        report: (FlowWindow) -> Void
    ) -> ClientHello? {
        // Read in place: a copy of the window retains and releases its strings (perf). A window
        // keeps the first JA4 it sees: the later hellos' are not computed.
        let (windowID, fingerprint) = clients.update(slot: slot) { ($0.id, everyJA4 || $0.ja4 == nil) }
        var connectionBytes: UInt64 = 0
        var age: Int64 = 0
        var firstPayload: PayloadKind?
        var hello: ClientHello?
        var dataOf: PayloadKind?
        if s.payloadLength > 0 || s.flags.contains(.syn), let connectionSlot = connections.slot(of: key) {
            if fromClient && s.payloadLength > 0 { connections.keep(slot: connectionSlot) }
            connections.update(slot: connectionSlot) { c in
                if c.window != windowID {
                    c.window = windowID
                    c.windowBytes = 0
                }
                c.windowBytes &+= UInt64(s.payloadLength)
                if fromClient, c.firstPayload == nil, s.payloadLength > 0 {
                    (firstPayload, hello) = PayloadKind.classify(payload, length: s.payloadLength, fingerprint: fingerprint)
                    c.firstPayload = firstPayload
                    if let partial = hello, !partial.complete { startHello(&c, s, payload) }
                } else if fromClient, !c.hello.isEmpty, s.payloadLength > 0 {
                    hello = continueHello(&c, s, payload, fingerprint: fingerprint)
                }
                if s.payloadLength > 0 { dataOf = c.firstPayload }
                connectionBytes = c.windowBytes
                age = now - c.start
            }
        }
        // A client that acknowledges its server's answer is no spoofed source: a flood of
        // those must not push its window out.
        if fromClient && s.flags.contains(.ack) { clients.keep(slot: slot) }
        let entropyHere = entropyElsewhere == nil
        let (closed, newData) = clients.update(slot: slot) { w -> (Bool, Bool) in
            let newData = fromClient ? w.up.count(s, at: now) : w.down.count(s, at: now)
            if newData && entropyHere {
                if fromClient { w.up.entropy.add(payload) } else { w.down.entropy.add(payload) }
            }
            if s.flags.contains(.syn) && !s.flags.contains(.ack) { w.connectionsOpened += 1 }
            if let firstPayload { w.firstPayloads[firstPayload.rawValue] &+= 1 }
            if let hello {
                w.serverName = w.serverName ?? hello.serverName
                w.alpn = w.alpn ?? hello.alpn
                w.ja4 = w.ja4 ?? hello.ja4
            }
            if let dataOf { w.dataPacketsByFirstPayload[dataOf.rawValue] &+= 1 }
            if connectionBytes > w.largestConnectionBytes {
                w.largestConnectionBytes = connectionBytes
                w.server = key.server
                w.serverPort = key.serverPort
            }
            w.longestConnection = max(w.longestConnection, age)
            w.last = now
            return (w.packets >= windowPackets || now - w.start >= windowSeconds, newData)
        }
        if newData, payload.count >= EntropyTally.minimumBytes, let entropyElsewhere {
            entropyElsewhere(.sample(window: windowID, upstream: fromClient, payload: payload))
        }
        if closed { close(slot: slot, at: now, report: report) }
        return hello
    }

    /// A ClientHello record longer than its first segment: kept, within the budget, for the
    /// segments that follow. One the snaplen cut is left as it is.
    private func startHello(_ c: inout Connection, _ s: TCPSegment, _ payload: UnsafeRawBufferPointer) {
        guard payload.count == s.payloadLength, payload.count >= 5 else { return }
        let length = 5 + (Int(payload[3]) << 8 | Int(payload[4]))
        guard length > payload.count, length <= ClientHello.maximumRecord else { return }
        guard helloBytes + length <= helloBudget else {
            counters.hellosUnread += 1
            return
        }
        c.hello = Array(payload)
        c.hello.reserveCapacity(length)
        c.helloLength = length
        c.helloSequence = s.sequence &+ UInt32(s.payloadLength)
        helloBytes += length
    }

    /// The next segment of a ClientHello being read: the hello once it is whole. A gap or a
    /// segment cut by the snaplen ends the reading; a retransmission is passed over.
    private func continueHello(
        _ c: inout Connection, _ s: TCPSegment, _ payload: UnsafeRawBufferPointer, fingerprint: Bool
    ) -> ClientHello? {
        let offset = Int32(bitPattern: s.sequence &- c.helloSequence)
        if offset < 0 { return nil }
        guard offset == 0, payload.count == s.payloadLength else {
            dropHello(&c)
            counters.hellosUnread += 1
            return nil
        }
        c.hello.append(contentsOf: payload.prefix(c.helloLength - c.hello.count))
        c.helloSequence &+= UInt32(s.payloadLength)
        guard c.hello.count >= c.helloLength else { return nil }
        let whole = c.hello.withUnsafeBytes { ClientHello($0, fingerprint: fingerprint) }
        dropHello(&c)
        return whole
    }

    private func dropHello(_ c: inout Connection) {
        helloBytes -= c.helloLength
        c.hello = []
        c.helloLength = 0
    }

    /// Hands over the client's window and starts a new one.
    private func close(slot: Int, at now: Int64, report: (FlowWindow) -> Void) {
        var finished = clients[slot: slot]
        finished.rules = TunnelFlowRules.evaluate(finished)
        counters.windows += 1
        report(finished)
        nextID &+= idStep
        clients[slot: slot] = FlowWindow(
            client: finished.client, server: finished.server, serverPort: finished.serverPort, at: now, id: nextID)
    }

    /// Closes windows that passed `windowSeconds` without traffic; at most once per
    /// `sweepInterval` of capture time (the callers check, so that a packet costs no call). Windows without a packet are dropped quietly: nothing to say.
    private func sweep(at now: Int64, report: (FlowWindow) -> Void) {
        lastSweep = now
        due.removeAll(keepingCapacity: true)
        clients.forEach { address, w in if now - w.start >= windowSeconds { due.append(address) } }
        for address in due {
            guard let slot = clients.slot(of: address) else { continue }
            if clients[slot: slot].packets > 0 { close(slot: slot, at: now, report: report) } else { clients.remove(address) }
        }
        counters.clients = clients.count
    }

    /// The capture ended: every window with traffic is handed over.
    public func finish(report: (FlowWindow) -> Void) {
        var open: [FlowWindow] = []
        clients.forEach { _, w in if w.packets > 0 { open.append(w) } }
        for var w in open.sorted(by: { $0.start < $1.start }) {
            w.rules = TunnelFlowRules.evaluate(w)
            counters.windows += 1
            report(w)
        }
        clients = BoundedTable(capacity: clients.capacity)
        connections = BoundedTable(capacity: connections.capacity)
        counters.clients = 0
    }
}
