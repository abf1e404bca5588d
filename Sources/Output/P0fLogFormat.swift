import Decode
import Features
import Formatting
import Match
import Verdict

/// p0f's log format (`-o` in p0f): one `key=value|…` line per observation, so scripts written
/// for p0f logs read synprint's. SYN, SYN+ACK and `mod=mtu` lines carry p0f's fields, with
/// `raw_sig` and `raw_mtu` as p0f 3.09b writes them for the same packet (a test compares); `os`
/// and `link` are synprint's names. Request lines keep p0f's module name with synprint's verdict
/// fields. Times are UTC.
enum P0fLogFormat {
    static func write(_ event: SynObservation, database: Database?, to out: TextBuffer) {
        let fp = event.fingerprint
        let isSYN = fp.direction == .syn
        writeHead(seconds: event.seconds, module: isSYN ? "syn" : "syn+ack", fp, to: out)
        out.append("|os=")
        if let c = event.classification, c.osClass != .unknown, let best = c.bestEntryIndex, let database {
            out.append(string: database.display[best].label)
        } else {
            out.append("???")
        }
        out.append("|dist="); out.append(fp.distance)
        out.append("|params=")
        switch event.classification?.kind {
        case .generic?: out.append("generic")
        case .fuzzy?: out.append("fuzzy")
        default: out.append("none")
        }
        out.append("|raw_sig="); fp.writeRawSignature(to: out)
        out.append(ascii: "\n")
        if let mss = fp.options.mss, mss > 0 {  // p0f: the MSS plus minimal headers, whatever the link
            writeHead(seconds: event.seconds, module: "mtu", fp, to: out)
            out.append("|link="); out.append(string: event.path?.linkName(in: database) ?? "???")
            out.append("|raw_mtu="); out.append(LinkMTU.mtu(mss: Int(mss), ipVersion: fp.segment.ip.version))
            out.append(ascii: "\n")
        }
    }

    static func write(_ event: JudgedRequest, to out: TextBuffer) {
        let fp = event.observation.syn.fingerprint
        let v = event.verdict
        writeHead(seconds: event.observation.seconds, module: "http request", fp, to: out)
        out.append("|app="); appendField(event.observation.request.userAgent ?? "???", to: out)
        out.append("|ua_os="); out.append(string: v.claimed.map { $0.osClass?.name ?? $0.family.name } ?? "none")
        out.append("|tcp_os="); out.append(string: v.stack?.osClass.name ?? "none")
        out.append("|verdict="); out.append(v.flagged ? "flagged" : "ok")
        out.append("|score="); out.append(fraction: v.score)
        out.append("|reasons=")
        out.append(string: v.reasons.isEmpty ? "none" : v.reasonNames.joined(separator: ","))
        out.append(ascii: "\n")
    }

    /// `[time] mod=…|cli=…|srv=…|subj=…`; the subject of a SYN+ACK is the server.
    static func writeHead(seconds: Int, module: StaticString, _ fp: Fingerprint, to out: TextBuffer) {
        let s = fp.segment
        let isSYN = fp.direction == .syn
        out.appendBracketedTime(seconds: seconds)
        out.append(" mod="); out.append(module)
        out.append("|cli=")
        out.append(ip: isSYN ? s.ip.source : s.ip.destination); out.append(ascii: "/")
        out.append(isSYN ? s.sourcePort : s.destinationPort)
        out.append("|srv=")
        out.append(ip: isSYN ? s.ip.destination : s.ip.source); out.append(ascii: "/")
        out.append(isSYN ? s.destinationPort : s.sourcePort)
        out.append(isSYN ? "|subj=cli" : "|subj=srv")
    }

    /// A value cannot hold the field separator, and control characters are written as `\xNN`
    /// (as in the text format), so it can neither break the line nor reach a terminal.
    static func appendField(_ text: String, to out: TextBuffer) {
        out.append(printable: text.utf8.contains(0x7C) ? String(text.map { $0 == "|" ? "?" : $0 }) : text)
    }
}
