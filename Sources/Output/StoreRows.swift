import Connections
import Decode
import FlowStats
import Formatting
import Match
import Tables
import Verdict

/// The fleet store's tables, one per event type (docs/FLEET.md).
public enum StoreTable: String, Sendable, CaseIterable {
    case syn, synack, http, alert, conn, flowstats, stats, tls
}

/// Events as rows of the fleet store, in ClickHouse's `RowBinary` format: each row is its
/// columns' values in the order of `StoreSchema`, numbers little-endian, strings and arrays
/// prefixed by their length. Rows are about a third of the size of `JSONEachRow` ones (which
/// repeat every column name) and ClickHouse takes them 1.5–1.9× faster (docs/FLEET.md).
/// Nested objects of the JSON events become prefixed columns; absent values are `NULL` in
/// `Nullable` columns, empty strings and arrays elsewhere. Times are whole seconds (`ts`) and
/// their microseconds (`ts_us`), which every ClickHouse release stores and groups by; fractions
/// and seconds keep the three decimals of the JSON events.
///
/// Every row starts with the sensor's name and an `event_id` unique across the fleet: the
/// sensor, the time its run started and the event's position in the run (`identify`); the
/// `write` functions write the columns after them.
public final class StoreRows {
    private let database: Database?
    private let sensor: String
    /// `SENSOR-START-`: each row's event id appends its sequence.
    private let prefix: String
    /// Where values of unknown length (addresses, signatures) are rendered before their length
    /// is written.
    private let scratch = TextBuffer(capacity: 256)

    /// The connections each row of a connection's table stands for (its `weight` column): the
    /// sensor keeps 1 in `weight` of them.
    private let weight: UInt32

    /// `runStart`: microseconds since the epoch at which this sensor's run started.
    public init(database: Database?, labels: EventLabels, runStart: Int64, weight: Int = 1) {
        self.database = database
        self.weight = UInt32(clamping: weight)
        sensor = labels.sensor
        prefix = "\(labels.sensor)-\(runStart)-"
    }

    // MARK: Values

    private func u8(_ v: some BinaryInteger, _ out: TextBuffer) { out.append(littleEndian: UInt8(clamping: v)) }
    private func u16(_ v: some BinaryInteger, _ out: TextBuffer) { out.append(littleEndian: UInt16(clamping: v)) }
    private func u32(_ v: some BinaryInteger, _ out: TextBuffer) { out.append(littleEndian: UInt32(clamping: v)) }
    private func u64(_ v: some BinaryInteger, _ out: TextBuffer) { out.append(littleEndian: UInt64(clamping: v)) }
    private func bool(_ v: Bool, _ out: TextBuffer) { out.append(littleEndian: UInt8(v ? 1 : 0)) }
    /// `DateTime`: seconds since the epoch, as UInt32.
    private func time(_ seconds: some BinaryInteger, _ out: TextBuffer) { u32(seconds, out) }

    /// A `Nullable` column: its null flag, then the value when there is one.
    private func nullable<T>(_ value: T?, _ out: TextBuffer, _ write: (T, TextBuffer) -> Void) {
        guard let value else { return out.append(littleEndian: UInt8(1)) }
        out.append(littleEndian: UInt8(0))
        write(value, out)
    }

    /// A string column rendered by `body` (an address, a signature): its length comes first.
    private func text(_ out: TextBuffer, _ body: (TextBuffer) -> Void) {
        scratch.removeAll()
        body(scratch)
        out.append(lengthPrefixed: scratch)
    }

    private func strings(_ names: some Collection<String>, _ out: TextBuffer) {
        out.append(varUInt: names.count)
        for name in names { out.append(lengthPrefixed: name) }
    }

    /// A confidence or score as `Float32`, rounded to thousandths as in the JSON events.
    private func fraction(_ value: Float, _ out: TextBuffer) {
        let clamped = value.isNaN ? 0 : min(max(value, 0), 1)
        out.append(littleEndian: (Float((clamped * 1000).rounded()) / 1000).bitPattern)
    }

    /// Microseconds as `Float64` seconds with three decimals, as in the JSON events.
    private func seconds(_ microseconds: Int64, _ out: TextBuffer) {
        out.append(littleEndian: (Double(max(microseconds, 0) / 1000) / 1000).bitPattern)
    }

    /// A non-negative statistic with three decimals; NULL when there is none or it is not finite.
    private func number32(_ value: Double?, _ out: TextBuffer) {
        nullable(value.flatMap(StoreRows.thousandths), out) { out, buffer in
            buffer.append(littleEndian: (Float(out) / 1000).bitPattern)
        }
    }

    private func number64(_ value: Double?, _ out: TextBuffer) {
        nullable(value.flatMap(StoreRows.thousandths), out) { out, buffer in
            buffer.append(littleEndian: (Double(out) / 1000).bitPattern)
        }
    }

    private static func thousandths(_ value: Double) -> Int64? {
        value.isFinite && value >= 0 ? Int64((min(value, 1e15) * 1000).rounded()) : nil
    }

    // MARK: Column groups

    /// A row's first two columns, the sensor and the `event_id`: written where the event's
    /// position in the run is known (the output thread), before the rest of the row, which a
    /// worker may have written (`write`).
    public func identify(_ sequence: UInt64, to out: TextBuffer) {
        out.append(lengthPrefixed: sensor)
        text(out) {
            $0.append(string: prefix); $0.append(sequence)
        }
    }

    private func begin(seconds: Int, microseconds: Int, to out: TextBuffer) {
        time(max(seconds, 0), out)
        u32(max(0, min(microseconds, 999_999)), out)
    }

    private func endpoints(_ flow: FlowKey, ports: Bool = true, to out: TextBuffer) {
        text(out) { $0.append(ip: flow.client) }
        if ports { u16(flow.clientPort, out) }
        text(out) { $0.append(ip: flow.server) }
        u16(flow.serverPort, out)
        text(out) { $0.append(network: flow.client) }
    }

    private func path(_ path: NetworkPath?, to out: TextBuffer) {
        nullable(path?.mss, out, u16)
        nullable(path?.mtu, out, u16)
        out.append(lengthPrefixed: path?.linkIndex.flatMap { index in database.map { $0.links[index].link } } ?? "")
        bool(path?.tunnel ?? false, out)
        bool(path?.clamped ?? false, out)
        nullable(path?.originalMSS, out, u16)
        nullable(path?.hops, out, u8)
    }

    private func os(_ c: Classification?, to out: TextBuffer) {
        out.append(lengthPrefixed: c?.osClass.name ?? "")
        out.append(lengthPrefixed: c?.family.name ?? "")
        // The two names only: copying the entry retained and released each of its fields (perf).
        let index = c?.bestEntryIndex
        out.append(lengthPrefixed: index.flatMap { database?.entries[$0].name } ?? "")
        out.append(lengthPrefixed: index.flatMap { database?.entries[$0].flavor } ?? "")
        fraction(c?.confidence ?? 0, out)
        fraction(c?.familyConfidence ?? 0, out)
        out.append(lengthPrefixed: c?.kind.rawValue ?? "")
    }

    // MARK: Rows

    /// A SYN or SYN+ACK row, for the `syn` or `synack` table.
    @discardableResult
    public func write(_ syn: SynObservation, to out: TextBuffer) -> StoreTable {
        let fp = syn.fingerprint
        let s = fp.segment
        let o = fp.options
        begin(seconds: syn.seconds, microseconds: syn.microseconds, to: out)
        // A SYN+ACK's client is its receiver: the network column groups by client either way.
        let flow = FlowKey(s)
        text(out) { $0.append(ip: s.ip.source) }
        u16(s.sourcePort, out)
        text(out) { $0.append(ip: s.ip.destination) }
        u16(s.destinationPort, out)
        text(out) { $0.append(network: fp.direction == .syn ? flow.client : flow.server) }
        text(out) {
            CommunityID.append(
                source: flow.client, sourcePort: flow.clientPort, destination: flow.server, destinationPort: flow.serverPort, to: $0)
        }
        u8(s.ip.version, out)
        u8(s.ip.ttl, out)
        u8(fp.initialTTL, out)
        out.append(littleEndian: Int16(clamping: fp.distance))
        bool(s.ip.dontFragment, out)
        u32(s.ip.ipID, out)
        u8(s.ip.tos, out)
        u16(s.window, out)
        text(out) { fp.writeLayout(to: $0) }
        nullable(o.mss, out, u16)
        nullable(o.windowScale, out, u8)
        text(out) {
            switch fp.windowForm {
            case .mssMultiple(let n): $0.append("mss*"); $0.append(n)
            case .mtuMultiple(let n): $0.append("mtu*"); $0.append(n)
            case .value: break
            }
        }
        bool(o.timestampValue != nil, out)
        var quirks = 0
        fp.quirks.forEachName { _ in quirks += 1 }
        out.append(varUInt: quirks)
        fp.quirks.forEachName { out.append(lengthPrefixed: $0) }
        text(out) { fp.writeRawSignature(to: $0) }
        text(out) { fp.writeJA4T(to: $0) }
        path(syn.path, to: out)
        os(syn.classification, to: out)
        u32(weight, out)
        return fp.direction == .syn ? .syn : .synack
    }

    /// A judged request's row, for the `http` table, or the `alert` table for its alert.
    /// `observation`: the labelled SYN as a learned-entry line, for `db build --clickhouse`, or
    /// the rule that `excluded` it.
    public func write(
        _ request: JudgedRequest, source: StaticString = "capture", observation learned: String? = nil, excluded: String = "",
        to out: TextBuffer
    ) {
        let observation = request.observation
        let syn = observation.syn
        let head = observation.request
        let verdict = request.verdict
        begin(seconds: observation.seconds, microseconds: observation.microseconds, to: out)
        endpoints(FlowKey(syn.fingerprint.segment), to: out)
        out.append(lengthPrefixed: source)
        time(max(syn.seconds, 0), out)
        out.append(lengthPrefixed: head.method)
        out.append(lengthPrefixed: head.host ?? "")
        out.append(lengthPrefixed: head.userAgent ?? "")
        out.append(lengthPrefixed: head.platformHint ?? "")
        strings(head.proxyHeaders, out)
        out.append(lengthPrefixed: head.ja4h ?? "")
        text(out) { syn.fingerprint.writeRawSignature(to: $0) }
        text(out) { syn.fingerprint.writeJA4T(to: $0) }
        path(syn.path, to: out)
        os(syn.classification, to: out)
        bool(verdict.flagged, out)
        fraction(verdict.score, out)
        strings(verdict.tunnelRules.isEmpty ? verdict.reasons.map(\.rawValue) : verdict.reasonNames, out)
        out.append(lengthPrefixed: verdict.claimed?.osClass?.name ?? "")
        out.append(lengthPrefixed: verdict.claimed?.family.name ?? "")
        out.append(lengthPrefixed: learned ?? "")
        out.append(lengthPrefixed: excluded)
        u32(weight, out)
    }

    /// An ended connection's row, for the `conn` table.
    public func write(_ c: FollowedConnection, to out: TextBuffer) {
        begin(seconds: Int(c.start / 1_000_000), microseconds: Int(c.start % 1_000_000), to: out)
        endpoints(c.key, to: out)
        time(max(c.last / 1_000_000, 0), out)
        out.append(lengthPrefixed: c.stage.rawValue)
        out.append(lengthPrefixed: c.ending.rawValue)
        let tags = ConnectionTags.named.filter { c.tags.contains($0.0) }
        strings(tags.map(\.1), out)
        bool(c.connected, out)
        nullable(c.handshakeRTT, out, seconds)
        seconds(c.last - c.start, out)
        u32(c.client.packets, out)
        u64(c.client.payloadBytes, out)
        bool(c.client.fin, out)
        bool(c.client.rst, out)
        u32(c.server.packets, out)
        u64(c.server.payloadBytes, out)
        bool(c.server.fin, out)
        bool(c.server.rst, out)
        nullable(c.resetTTL, out, u8)
        out.append(lengthPrefixed: c.fastOpen.rawValue)
        out.append(lengthPrefixed: c.ecn.rawValue)
        bool(c.ecnBleached, out)
        bool(c.accurateECN, out)
        out.append(lengthPrefixed: c.osClass.name)
        out.append(lengthPrefixed: c.family.name)
        nullable(c.path?.mtu, out, u16)
        bool(c.path?.tunnel ?? false, out)
        u32(weight, out)
    }

    /// A closed flow-statistics window's row, for the `flowstats` table.
    public func write(_ w: FlowWindow, to out: TextBuffer) {
        begin(seconds: Int(w.start / 1_000_000), microseconds: Int(w.start % 1_000_000), to: out)
        endpoints(FlowKey(client: w.client, clientPort: 0, server: w.server, serverPort: w.serverPort), ports: false, to: out)
        time(max(w.last / 1_000_000, 0), out)
        seconds(w.last - w.start, out)
        for d in [w.up, w.down] {
            u32(d.packets, out)
            u32(d.dataPackets, out)
            u64(d.bytes, out)
            number32(d.entropy.mean.map(Double.init), out)
            number64(d.intervalMean, out)
            number32(d.meanLength, out)
        }
        number32(w.pushRatio, out)
        number32(w.upDownRatio, out)
        u32(w.connectionsOpened, out)
        number32(w.largestConnectionShare, out)
        seconds(w.longestConnection, out)
        let kinds = PayloadKind.allCases.filter { w.firstPayloads[$0.rawValue] > 0 }
        strings(kinds.map(\.name), out)
        out.append(varUInt: kinds.count)
        for kind in kinds { u32(w.firstPayloads[kind.rawValue], out) }
        out.append(lengthPrefixed: w.serverName ?? "")
        out.append(lengthPrefixed: w.alpn ?? "")
        out.append(lengthPrefixed: w.ja4 ?? "")
        strings(w.rules.names, out)
    }

    /// A connection's ClientHello, for the `tls` table.
    public func write(_ t: TLSObservation, to out: TextBuffer) {
        let hello = t.hello
        begin(seconds: t.seconds, microseconds: t.microseconds, to: out)
        endpoints(FlowKey(t.syn.fingerprint.segment), to: out)
        out.append(lengthPrefixed: hello.serverName ?? "")
        strings(hello.protocols, out)
        out.append(varUInt: hello.versions.count)
        for version in hello.versions { text(out) { TLSFormat.appendVersion(version, to: $0) } }
        u16(hello.ciphers.count, out)
        u16(hello.extensions.count, out)
        // The suites in the hello's order (the library's preference, which the stacks weigh),
        // the extensions and groups as sorted sets.
        for codes in [TLSStacks.firstOccurrences(hello.ciphers), TLSStacks.sortedSet(hello.extensions), TLSStacks.sortedSet(hello.groups)] {
            out.append(varUInt: codes.count)
            for code in codes { u16(code, out) }
        }
        bool(hello.grease, out)
        bool(hello.complete, out)
        out.append(lengthPrefixed: hello.ja4 ?? "")
        out.append(lengthPrefixed: t.client?.family.rawValue ?? "")
        out.append(lengthPrefixed: t.client?.family.library ?? "")
        out.append(lengthPrefixed: t.client?.name ?? "")
        fraction(t.client?.confidence ?? 0, out)
        fraction(t.client?.libraryConfidence ?? 0, out)
        out.append(lengthPrefixed: (t.syn.classification?.osClass ?? .unknown).name)
        out.append(lengthPrefixed: (t.syn.classification?.family ?? .unknown).name)
        u32(weight, out)
    }

    /// The capture's counts at one moment, for the `stats` table.
    public func write(_ stats: StatsFigures, to out: TextBuffer) {
        begin(seconds: stats.seconds, microseconds: stats.microseconds, to: out)
        for count in [stats.packets, stats.syn, stats.synAck, stats.skipped, stats.malformed] { u64(count, out) }
        nullable(stats.libpcap?.received, out, u64)
        nullable(stats.libpcap?.dropped, out, u64)
        nullable(stats.libpcap?.interfaceDropped, out, u64)
        for count in [stats.awaitingRequest, stats.requests, stats.flagged, stats.alertsSuppressed] { u64(count, out) }
    }
}
