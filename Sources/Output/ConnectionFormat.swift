import Connections
import Formatting
import Match
import Verdict

/// A followed connection's end (`--connections`) in each format: the `conn` JSON event
/// (docs/OUTPUT.md), a text line, and a p0f-style `mod=conn` line.
enum ConnectionFormat {
    /// Microseconds as seconds with three decimals.
    static func appendSeconds(_ microseconds: Int64, to out: TextBuffer) {
        let milliseconds = max(microseconds, 0) / 1000
        out.append(milliseconds / 1000)
        out.append(ascii: ".")
        out.append(Int(milliseconds % 1000), width: 3)
    }

    static func appendTime(_ microseconds: Int64, to out: TextBuffer) {
        out.appendTimestamp(seconds: Int(microseconds / 1_000_000), microseconds: Int(microseconds % 1_000_000))
    }

    static func appendTags(_ tags: ConnectionTags, separator: Unicode.Scalar, quoted: Bool, to out: TextBuffer) {
        var first = true
        for (tag, name) in ConnectionTags.named where tags.contains(tag) {
            if !first { out.append(ascii: separator) }
            first = false
            if quoted { out.append(ascii: "\"") }
            out.append(string: name)
            if quoted { out.append(ascii: "\"") }
        }
    }

    static func appendDirection(_ d: DirectionCounts, to out: TextBuffer) {
        out.append("{\"packets\":"); out.append(d.packets)
        out.append(",\"bytes\":"); out.append(d.payloadBytes)
        out.append(",\"fin\":"); out.append(bool: d.fin)
        out.append(",\"rst\":"); out.append(bool: d.rst)
        out.append(",\"ecn_marks\":{\"not_ect\":"); out.append(d.ecnMarks.notECT)
        out.append(",\"ect0\":"); out.append(d.ecnMarks.ect0)
        out.append(",\"ect1\":"); out.append(d.ecnMarks.ect1)
        out.append(",\"ce\":"); out.append(d.ecnMarks.ce)
        out.append("}}")
    }

    /// `,"tfo":…,"ecn":…,"ecn_bleached":…,"accecn":…`: what the connection negotiated.
    static func appendNegotiated(_ c: FollowedConnection, to out: TextBuffer) {
        out.append(",\"tfo\":\""); out.append(string: c.fastOpen.rawValue)
        out.append("\",\"ecn\":\""); out.append(string: c.ecn.rawValue)
        out.append("\",\"ecn_bleached\":"); out.append(bool: c.ecnBleached)
        out.append(",\"accecn\":"); out.append(bool: c.accurateECN)
    }

    /// The native JSON object, without its closing brace's line break.
    static func writeJSON(_ c: FollowedConnection, labels: EventLabels, path: TextBuffer?, to out: TextBuffer) {
        out.append("{\"type\":\"conn\",\"ts\":\""); appendTime(c.start, to: out)
        out.append("\",\"end_ts\":\""); appendTime(c.last, to: out)
        out.append("\",\"src_ip\":\""); out.append(ip: c.key.client)
        out.append("\",\"src_port\":"); out.append(c.key.clientPort)
        out.append(",\"dst_ip\":\""); out.append(ip: c.key.server)
        out.append("\",\"dst_port\":"); out.append(c.key.serverPort)
        labels.appendCommon(c.key, to: out)
        out.append(",\"stage\":\""); out.append(string: c.stage.rawValue)
        out.append("\",\"ending\":\""); out.append(string: c.ending.rawValue)
        out.append("\",\"tags\":["); appendTags(c.tags, separator: ",", quoted: true, to: out)
        out.append("],\"connected\":"); out.append(bool: c.connected)
        out.append(",\"handshake_rtt\":")
        if let rtt = c.handshakeRTT { appendSeconds(rtt, to: out) } else { out.append("null") }
        out.append(",\"duration\":"); appendSeconds(c.last - c.start, to: out)
        out.append(",\"syn_flags\":"); out.append(c.synFlags.rawValue)
        out.append(",\"synack_flags\":"); out.append(optional: c.synAckFlags?.rawValue)
        out.append(",\"client\":"); appendDirection(c.client, to: out)
        out.append(",\"server\":"); appendDirection(c.server, to: out)
        out.append(",\"reset\":")
        if let ttl = c.resetTTL {
            out.append("{\"ttl\":"); out.append(ttl)
            out.append(",\"ip_id\":"); out.append(optional: c.resetIPID)
            out.append(",\"client_ttl\":"); out.append(c.clientTTL)
            out.append(",\"client_ip_id\":"); out.append(c.clientIPID)
            out.append(",\"after\":"); appendSeconds(c.resetGap ?? 0, to: out)
            out.append(ascii: "}")
        } else {
            out.append("null")
        }
        appendNegotiated(c, to: out)
        out.append(",\"os\":{\"class\":\""); out.append(string: c.osClass.name)
        out.append("\",\"family\":\""); out.append(string: c.family.name)
        out.append("\"}")
        if let path {
            out.append(",\"path\":"); out.append(path)
            out.append(",\"hops\":"); out.append(optional: c.path?.hops)
            out.append(ascii: "}")
        }
        out.append(ascii: "}")
    }

    static func writeText(_ c: FollowedConnection, to out: TextBuffer) {
        out.append("conn "); out.append(ip: c.key.client); out.append(ascii: "/"); out.append(c.key.clientPort)
        out.append(" -> "); out.append(ip: c.key.server); out.append(ascii: "/"); out.append(c.key.serverPort)
        out.append(" stage="); out.append(string: c.stage.rawValue)
        out.append(" ending="); out.append(string: c.ending.rawValue)
        out.append(" tags="); appendTags(c.tags, separator: ",", quoted: false, to: out)
        out.append(" tfo="); out.append(string: c.fastOpen.rawValue)
        out.append(" ecn="); out.append(string: c.ecn.rawValue)
        out.append(" os="); out.append(string: c.osClass.name)
        out.append(ascii: "\n")
    }

    static func writeP0f(_ c: FollowedConnection, to out: TextBuffer) {
        out.appendBracketedTime(seconds: Int(c.start / 1_000_000))
        out.append(" mod=conn|cli="); out.append(ip: c.key.client); out.append(ascii: "/"); out.append(c.key.clientPort)
        out.append("|srv="); out.append(ip: c.key.server); out.append(ascii: "/"); out.append(c.key.serverPort)
        out.append("|subj=cli|stage="); out.append(string: c.stage.rawValue)
        out.append("|ending="); out.append(string: c.ending.rawValue)
        out.append("|tags="); appendTags(c.tags, separator: ",", quoted: false, to: out)
        out.append("|tfo="); out.append(string: c.fastOpen.rawValue)
        out.append("|ecn="); out.append(string: c.ecn.rawValue)
        out.append(ascii: "\n")
    }
}
