import Connections
import Decode
import FlowStats
import Formatting
import Match
import Tables
import Verdict

/// The fleet store's tables, one per event type (docs/FLEET.md).
public enum StoreTable: String, Sendable, CaseIterable {
    case syn, synack, http, alert, conn, flowstats, stats
}

/// Events as rows of the fleet store: one flat JSON object per line (ClickHouse's
/// `JSONEachRow`), with the columns of `StoreSchema` and nothing else: nested objects of the
/// JSON events become prefixed columns, absent values `null` or empty strings and arrays.
/// Times are whole seconds (`ts`) and their microseconds (`ts_us`), which every ClickHouse
/// release stores and groups by.
///
/// Every row starts with the sensor's name and an `event_id` unique across the fleet: the
/// sensor, the time its run started and the event's position in the run.
public final class StoreRows {
    private let database: Database?
    private let labels: EventLabels
    /// `"event_id":"SENSOR-START-`, escaped once; each row appends its sequence.
    private let prefix: String

    /// `runStart`: microseconds since the epoch at which this sensor's run started.
    public init(database: Database?, labels: EventLabels, runStart: Int64) {
        self.database = database
        self.labels = labels
        let buffer = TextBuffer(capacity: 128)
        buffer.append("{\"sensor\":"); buffer.append(string: labels.sensorJSON)
        buffer.append(",\"event_id\":")
        buffer.appendJSONString("\(labels.sensor)-\(runStart)-")
        prefix = String(buffer.string.dropLast())  // the closing quote: the sequence follows
    }

    private func begin(_ sequence: UInt64, seconds: Int, microseconds: Int, to out: TextBuffer) {
        out.append(string: prefix); out.append(sequence)
        out.append("\",\"ts\":"); out.append(max(seconds, 0))
        out.append(",\"ts_us\":"); out.append(max(0, min(microseconds, 999_999)))
    }

    private func appendEndpoints(_ flow: FlowKey, ports: Bool = true, to out: TextBuffer) {
        out.append(",\"src_ip\":\""); out.append(ip: flow.client)
        if ports { out.append("\",\"src_port\":"); out.append(flow.clientPort); out.append(ascii: ",") } else { out.append("\",") }
        out.append("\"dst_ip\":\""); out.append(ip: flow.server)
        out.append("\",\"dst_port\":"); out.append(flow.serverPort)
        out.append(",\"client_net\":\""); out.append(network: flow.client)
        out.append(ascii: "\"")
    }

    private func appendStrings(_ names: some Sequence<String>, to out: TextBuffer) {
        out.append(ascii: "[")
        var first = true
        for name in names {
            if !first { out.append(ascii: ",") }
            first = false
            out.appendJSONString(name)
        }
        out.append(ascii: "]")
    }

    /// A database string (quoted JSON, or `null`) as a plain column: empty for none.
    private func appendText(json: String?, to out: TextBuffer) {
        if let json, json != "null" { out.append(string: json) } else { out.append("\"\"") }
    }

    private func appendPath(_ path: NetworkPath?, to out: TextBuffer) {
        out.append(",\"path_mss\":"); out.append(optional: path?.mss)
        out.append(",\"path_mtu\":"); out.append(optional: path?.mtu)
        out.append(",\"path_link\":")
        appendText(json: path?.linkIndex.flatMap { index in database.map { $0.linkNamesJSON[index] } }, to: out)
        out.append(",\"path_tunnel\":"); out.append(bool: path?.tunnel ?? false)
        out.append(",\"path_clamped\":"); out.append(bool: path?.clamped ?? false)
        out.append(",\"original_mss\":"); out.append(optional: path?.originalMSS)
        out.append(",\"hops\":"); out.append(optional: path?.hops)
    }

    private func appendOS(_ c: Classification?, to out: TextBuffer) {
        let best = c?.bestEntryIndex.flatMap { index in database.map { $0.display[index] } }
        out.append(",\"os_class\":"); out.appendJSONString(c?.osClass.name ?? "")
        out.append(",\"os_family\":"); out.appendJSONString(c?.family.name ?? "")
        out.append(",\"os_name\":"); appendText(json: best?.nameJSON, to: out)
        out.append(",\"os_flavor\":"); appendText(json: best?.flavorJSON, to: out)
        out.append(",\"os_confidence\":"); out.append(fraction: c?.confidence ?? 0)
        out.append(",\"os_family_confidence\":"); out.append(fraction: c?.familyConfidence ?? 0)
        out.append(",\"os_match\":"); out.appendJSONString(c?.kind.rawValue ?? "")
    }

    /// A SYN or SYN+ACK row, for the `syn` or `synack` table.
    @discardableResult
    public func write(_ syn: SynObservation, sequence: UInt64, to out: TextBuffer) -> StoreTable {
        let fp = syn.fingerprint
        let s = fp.segment
        let o = fp.options
        begin(sequence, seconds: syn.seconds, microseconds: syn.microseconds, to: out)
        // A SYN+ACK's client is its receiver: the network column groups by client either way.
        let flow = FlowKey(s)
        let client =
            fp.direction == .syn
            ? flow : FlowKey(client: flow.server, clientPort: flow.serverPort, server: flow.client, serverPort: flow.clientPort)
        out.append(",\"src_ip\":\""); out.append(ip: s.ip.source)
        out.append("\",\"src_port\":"); out.append(s.sourcePort)
        out.append(",\"dst_ip\":\""); out.append(ip: s.ip.destination)
        out.append("\",\"dst_port\":"); out.append(s.destinationPort)
        out.append(",\"client_net\":\""); out.append(network: client.client)
        out.append("\",\"community_id\":\"")
        CommunityID.append(
            source: flow.client, sourcePort: flow.clientPort, destination: flow.server, destinationPort: flow.serverPort, to: out)
        out.append(ascii: "\"")
        JSONFormat.appendIPFields(fp, to: out)
        out.append(",\"window\":"); out.append(s.window)
        out.append(",\"options\":\""); fp.writeLayout(to: out)
        out.append("\",\"mss\":"); out.append(optional: o.mss)
        out.append(",\"window_scale\":"); out.append(optional: o.windowScale)
        out.append(",\"window_multiple\":\"")
        switch fp.windowForm {
        case .mssMultiple(let n): out.append("mss*"); out.append(n)
        case .mtuMultiple(let n): out.append("mtu*"); out.append(n)
        case .value: break
        }
        out.append("\",\"timestamps\":"); out.append(bool: o.timestampValue != nil)
        out.append(",\"quirks\":"); JSONFormat.appendQuirks(fp, to: out)
        out.append(",\"raw_sig\":\""); fp.writeRawSignature(to: out)
        out.append("\",\"ja4t\":\""); fp.writeJA4T(to: out)
        out.append(ascii: "\"")
        appendPath(syn.path, to: out)
        appendOS(syn.classification, to: out)
        out.append("}\n")
        return fp.direction == .syn ? .syn : .synack
    }

    /// A judged request's row, for the `http` table, or the `alert` table for its alert.
    /// `observation`: the labelled SYN as a learned-entry line, for `db build --clickhouse`, or
    /// the rule that `excluded` it.
    public func write(
        _ request: JudgedRequest, source: StaticString = "capture", observation learned: String? = nil, excluded: String = "",
        sequence: UInt64, to out: TextBuffer
    ) {
        let observation = request.observation
        let syn = observation.syn
        let head = observation.request
        let verdict = request.verdict
        begin(sequence, seconds: observation.seconds, microseconds: observation.microseconds, to: out)
        appendEndpoints(FlowKey(syn.fingerprint.segment), to: out)
        out.append(",\"source\":\""); out.append(source)
        out.append("\",\"syn_ts\":"); out.append(max(syn.seconds, 0))
        out.append(",\"method\":"); out.appendJSONString(head.method)
        out.append(",\"host\":"); out.appendJSONString(head.host ?? "")
        out.append(",\"user_agent\":"); out.appendJSONString(head.userAgent ?? "")
        out.append(",\"platform_hint\":"); out.appendJSONString(head.platformHint ?? "")
        out.append(",\"proxy_headers\":"); appendStrings(head.proxyHeaders, to: out)
        out.append(",\"ja4h\":"); out.appendJSONString(head.ja4h ?? "")
        out.append(",\"raw_sig\":\""); syn.fingerprint.writeRawSignature(to: out)
        out.append("\",\"ja4t\":\""); syn.fingerprint.writeJA4T(to: out)
        out.append(ascii: "\"")
        appendPath(syn.path, to: out)
        appendOS(syn.classification, to: out)
        out.append(",\"flagged\":"); out.append(bool: verdict.flagged)
        out.append(",\"score\":"); out.append(fraction: verdict.score)
        out.append(",\"reasons\":")
        appendStrings(verdict.tunnelRules.isEmpty ? verdict.reasons.map(\.rawValue) : verdict.reasonNames, to: out)
        out.append(",\"ua_class\":"); out.appendJSONString(verdict.claimed?.osClass?.name ?? "")
        out.append(",\"ua_family\":"); out.appendJSONString(verdict.claimed?.family.name ?? "")
        out.append(",\"observation\":"); out.appendJSONString(learned ?? "")
        out.append(",\"excluded\":"); out.appendJSONString(excluded)
        out.append("}\n")
    }

    /// An ended connection's row, for the `conn` table.
    public func write(_ c: FollowedConnection, sequence: UInt64, to out: TextBuffer) {
        begin(sequence, seconds: Int(c.start / 1_000_000), microseconds: Int(c.start % 1_000_000), to: out)
        appendEndpoints(c.key, to: out)
        out.append(",\"end_ts\":"); out.append(max(c.last / 1_000_000, 0))
        out.append(",\"stage\":\""); out.append(string: c.stage.rawValue)
        out.append("\",\"ending\":\""); out.append(string: c.ending.rawValue)
        out.append("\",\"tags\":["); ConnectionFormat.appendTags(c.tags, separator: ",", quoted: true, to: out)
        out.append("],\"connected\":"); out.append(bool: c.connected)
        out.append(",\"handshake_rtt\":")
        if let rtt = c.handshakeRTT { ConnectionFormat.appendSeconds(rtt, to: out) } else { out.append("null") }
        out.append(",\"duration\":"); ConnectionFormat.appendSeconds(c.last - c.start, to: out)
        out.append(",\"client_packets\":"); out.append(c.client.packets)
        out.append(",\"client_bytes\":"); out.append(c.client.payloadBytes)
        out.append(",\"client_fin\":"); out.append(bool: c.client.fin)
        out.append(",\"client_rst\":"); out.append(bool: c.client.rst)
        out.append(",\"server_packets\":"); out.append(c.server.packets)
        out.append(",\"server_bytes\":"); out.append(c.server.payloadBytes)
        out.append(",\"server_fin\":"); out.append(bool: c.server.fin)
        out.append(",\"server_rst\":"); out.append(bool: c.server.rst)
        out.append(",\"reset_ttl\":"); out.append(optional: c.resetTTL)
        ConnectionFormat.appendNegotiated(c, to: out)
        out.append(",\"os_class\":\""); out.append(string: c.osClass.name)
        out.append("\",\"os_family\":\""); out.append(string: c.family.name)
        out.append("\",\"path_mtu\":"); out.append(optional: c.path?.mtu)
        out.append(",\"path_tunnel\":"); out.append(bool: c.path?.tunnel ?? false)
        out.append("}\n")
    }

    /// A closed flow-statistics window's row, for the `flowstats` table.
    public func write(_ w: FlowWindow, sequence: UInt64, to out: TextBuffer) {
        begin(sequence, seconds: Int(w.start / 1_000_000), microseconds: Int(w.start % 1_000_000), to: out)
        appendEndpoints(FlowKey(client: w.client, clientPort: 0, server: w.server, serverPort: w.serverPort), ports: false, to: out)
        out.append(",\"end_ts\":"); out.append(max(w.last / 1_000_000, 0))
        out.append(",\"seconds\":"); ConnectionFormat.appendSeconds(w.last - w.start, to: out)
        for (name, d) in [("up", w.up), ("down", w.down)] {
            out.append(",\""); out.append(string: name); out.append("_packets\":"); out.append(d.packets)
            out.append(",\""); out.append(string: name); out.append("_data_packets\":"); out.append(d.dataPackets)
            out.append(",\""); out.append(string: name); out.append("_bytes\":"); out.append(d.bytes)
            out.append(",\""); out.append(string: name); out.append("_entropy\":");
            FlowStatsFormat.appendNumber(d.entropy.mean.map(Double.init), to: out)
            out.append(",\""); out.append(string: name); out.append("_interval_mean\":");
            FlowStatsFormat.appendNumber(d.intervalMean, to: out)
            out.append(",\""); out.append(string: name); out.append("_length_mean\":"); FlowStatsFormat.appendNumber(d.meanLength, to: out)
        }
        out.append(",\"push_ratio\":"); FlowStatsFormat.appendNumber(w.pushRatio, to: out)
        out.append(",\"up_down_ratio\":"); FlowStatsFormat.appendNumber(w.upDownRatio, to: out)
        out.append(",\"connections\":"); out.append(w.connectionsOpened)
        out.append(",\"largest_connection_share\":"); FlowStatsFormat.appendNumber(w.largestConnectionShare, to: out)
        out.append(",\"longest_connection\":"); ConnectionFormat.appendSeconds(w.longestConnection, to: out)
        let kinds = PayloadKind.allCases.filter { w.firstPayloads[$0.rawValue] > 0 }
        out.append(",\"first_payload_kinds\":"); appendStrings(kinds.map(\.name), to: out)
        out.append(",\"first_payload_counts\":[")
        for (i, kind) in kinds.enumerated() {
            if i > 0 { out.append(ascii: ",") }
            out.append(w.firstPayloads[kind.rawValue])
        }
        out.append("],\"tls_server_name\":"); out.appendJSONString(w.serverName ?? "")
        out.append(",\"tls_alpn\":"); out.appendJSONString(w.alpn ?? "")
        out.append(",\"tls_ja4\":"); out.appendJSONString(w.ja4 ?? "")
        out.append(",\"tunnel_rules\":"); appendStrings(w.rules.names, to: out)
        out.append("}\n")
    }

    /// The capture's counts at one moment, for the `stats` table.
    public func write(_ stats: StatsFigures, sequence: UInt64, to out: TextBuffer) {
        begin(sequence, seconds: stats.seconds, microseconds: stats.microseconds, to: out)
        out.append(",\"packets\":"); out.append(stats.packets)
        out.append(",\"syn\":"); out.append(stats.syn)
        out.append(",\"synack\":"); out.append(stats.synAck)
        out.append(",\"skipped\":"); out.append(stats.skipped)
        out.append(",\"malformed\":"); out.append(stats.malformed)
        out.append(",\"libpcap_received\":"); out.append(optional: stats.libpcap?.received)
        out.append(",\"libpcap_dropped\":"); out.append(optional: stats.libpcap?.dropped)
        out.append(",\"libpcap_interface_dropped\":"); out.append(optional: stats.libpcap?.interfaceDropped)
        out.append(",\"awaiting_request\":"); out.append(stats.awaitingRequest)
        out.append(",\"requests\":"); out.append(stats.requests)
        out.append(",\"flagged\":"); out.append(stats.flagged)
        out.append(",\"alerts_suppressed\":"); out.append(stats.alertsSuppressed)
        out.append("}\n")
    }
}
