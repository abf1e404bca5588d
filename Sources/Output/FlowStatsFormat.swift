import FlowStats
import Formatting
import Verdict

/// A client's closed flow-statistics window (`--flow-stats`) in each format: the `flowstats`
/// JSON event (docs/FLOWSTATS.md), a text line, and a p0f-style `mod=flowstats` line.
enum FlowStatsFormat {
    static func appendSeconds(_ microseconds: Int64, to out: TextBuffer) {
        ConnectionFormat.appendSeconds(microseconds, to: out)
    }

    /// A non-negative number with three decimals; null when there is none (or it is not finite).
    static func appendNumber(_ value: Double?, to out: TextBuffer) {
        guard let value, value.isFinite, value >= 0 else { return out.append("null") }
        let thousandths = Int64((min(value, 1e15) * 1000).rounded())
        out.append(thousandths / 1000)
        out.append(ascii: ".")
        out.append(Int(thousandths % 1000), width: 3)
    }

    static func appendDirection(_ d: DirectionStats, to out: TextBuffer) {
        out.append("{\"packets\":"); out.append(d.packets)
        out.append(",\"data_packets\":"); out.append(d.dataPackets)
        out.append(",\"bytes\":"); out.append(d.bytes)
        out.append(",\"entropy_bytes\":"); out.append(d.entropy.bytes)
        out.append(",\"entropy\":")
        if let mean = d.entropy.mean {
            out.append("{\"min\":"); appendNumber(Double(d.entropy.min), to: out)
            out.append(",\"mean\":"); appendNumber(Double(mean), to: out)
            out.append(",\"max\":"); appendNumber(Double(d.entropy.max), to: out)
            out.append(ascii: "}")
        } else {
            out.append("null")
        }
        out.append(",\"intervals\":[")
        for i in 0..<5 {
            if i > 0 { out.append(ascii: ",") }
            out.append(d.intervals[i])
        }
        out.append("],\"interval_mean\":"); appendNumber(d.intervalMean, to: out)
        out.append(",\"lengths\":{\"most_common\":")
        let frequent = d.mostFrequent
        out.append(optional: frequent.first?.length)
        out.append(",\"second\":"); out.append(optional: frequent.count > 1 ? frequent[1].length : nil)
        out.append(",\"mean\":"); appendNumber(d.meanLength, to: out)
        out.append(",\"bins\":[")
        for i in 0..<15 {
            if i > 0 { out.append(ascii: ",") }
            out.append(d.lengthBins[i])
        }
        out.append("]}}")
    }

    static func writeJSON(_ w: FlowWindow, labels: EventLabels, to out: TextBuffer) {
        out.append("{\"type\":\"flowstats\",\"ts\":\""); ConnectionFormat.appendTime(w.start, to: out)
        out.append("\",\"end_ts\":\""); ConnectionFormat.appendTime(w.last, to: out)
        out.append("\",\"src_ip\":\""); out.append(ip: w.client)
        out.append("\",\"dst_ip\":\""); out.append(ip: w.server)
        out.append("\",\"dst_port\":"); out.append(w.serverPort)
        out.append(",\"sensor\":"); out.append(string: labels.sensorJSON)
        out.append(",\"seconds\":"); appendSeconds(w.last - w.start, to: out)
        out.append(",\"up\":"); appendDirection(w.up, to: out)
        out.append(",\"down\":"); appendDirection(w.down, to: out)
        out.append(",\"push_ratio\":"); appendNumber(w.pushRatio, to: out)
        out.append(",\"up_down_ratio\":"); appendNumber(w.upDownRatio, to: out)
        out.append(",\"connections\":"); out.append(w.connectionsOpened)
        out.append(",\"largest_connection_share\":"); appendNumber(w.largestConnectionShare, to: out)
        out.append(",\"longest_connection\":"); appendSeconds(w.longestConnection, to: out)
        out.append(",\"first_payloads\":{")
        var first = true
        for kind in PayloadKind.allCases where w.firstPayloads[kind.rawValue] > 0 {
            if !first { out.append(ascii: ",") }
            first = false
            out.append(ascii: "\""); out.append(string: kind.name); out.append("\":"); out.append(w.firstPayloads[kind.rawValue])
        }
        out.append("},\"tls_server_name\":"); out.appendJSONString(optional: w.serverName)
        out.append(",\"tls_alpn\":"); out.appendJSONString(optional: w.alpn)
        out.append(",\"tls_ja4\":"); out.appendJSONString(optional: w.ja4)
        out.append(",\"tunnel_rules\":[")
        for (i, name) in w.rules.names.enumerated() {
            if i > 0 { out.append(ascii: ",") }
            out.append(ascii: "\""); out.append(string: name); out.append(ascii: "\"")
        }
        out.append("]}")
    }

    static func writeText(_ w: FlowWindow, to out: TextBuffer) {
        out.append("flowstats "); out.append(ip: w.client)
        out.append(" packets="); out.append(w.up.packets); out.append(ascii: "/"); out.append(w.down.packets)
        out.append(" bytes="); out.append(w.up.bytes); out.append(ascii: "/"); out.append(w.down.bytes)
        out.append(" largest_share="); appendNumber(w.largestConnectionShare, to: out)
        out.append(" rules="); out.append(string: w.rules.names.joined(separator: ","))
        out.append(ascii: "\n")
    }

    static func writeP0f(_ w: FlowWindow, to out: TextBuffer) {
        out.appendBracketedTime(seconds: Int(w.start / 1_000_000))
        out.append(" mod=flowstats|cli="); out.append(ip: w.client)
        out.append("|srv="); out.append(ip: w.server); out.append(ascii: "/"); out.append(w.serverPort)
        out.append("|subj=cli|packets="); out.append(w.packets)
        out.append("|rules="); out.append(string: w.rules.isEmpty ? "none" : w.rules.names.joined(separator: ","))
        out.append(ascii: "\n")
    }
}
