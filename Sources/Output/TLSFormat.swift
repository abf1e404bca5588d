import FlowStats
import Formatting
import Match
import Tables
import Verdict

/// A connection's ClientHello (`--http`) in each format: the `tls` JSON event (docs/OUTPUT.md),
/// a text line, and a p0f-style `mod=tls` line.
enum TLSFormat {
    /// `1.3`, `1.2` … for the TLS versions, `ssl3`, else the value in hex.
    static func appendVersion(_ version: UInt16, to out: TextBuffer) {
        switch version {
        case 0x0304: out.append("1.3")
        case 0x0303: out.append("1.2")
        case 0x0302: out.append("1.1")
        case 0x0301: out.append("1.0")
        case 0x0300: out.append("ssl3")
        default: out.append("0x"); out.appendHex(version)
        }
    }

    static func writeJSON(_ t: TLSObservation, labels: EventLabels, to out: TextBuffer) {
        let flow = FlowKey(t.syn.fingerprint.segment)
        let hello = t.hello
        out.append("{\"type\":\"tls\",\"ts\":\""); out.appendTimestamp(seconds: t.seconds, microseconds: t.microseconds)
        out.append("\",\"src_ip\":\""); out.append(ip: flow.client)
        out.append("\",\"src_port\":"); out.append(flow.clientPort)
        out.append(",\"dst_ip\":\""); out.append(ip: flow.server)
        out.append("\",\"dst_port\":"); out.append(flow.serverPort)
        labels.appendCommon(flow, to: out)
        out.append(",\"sni\":"); out.appendJSONString(optional: hello.serverName)
        out.append(",\"alpn\":[")
        for (i, name) in hello.protocols.enumerated() {
            if i > 0 { out.append(ascii: ",") }
            out.appendJSONString(name)
        }
        out.append("],\"versions\":[")
        for (i, version) in hello.versions.enumerated() {
            if i > 0 { out.append(ascii: ",") }
            out.append(ascii: "\""); appendVersion(version, to: out); out.append(ascii: "\"")
        }
        out.append("],\"ciphers\":"); out.append(hello.ciphers.count)
        out.append(",\"extensions\":"); out.append(hello.extensions.count)
        out.append(",\"grease\":"); out.append(bool: hello.grease)
        out.append(",\"complete\":"); out.append(bool: hello.complete)
        out.append(",\"ja4\":"); out.appendJSONString(optional: hello.ja4)
        out.append(",\"client\":")
        if let client = t.client {
            out.append("{\"family\":"); out.appendJSONString(client.family.rawValue)
            out.append(",\"library\":"); out.appendJSONString(client.family.library)
            out.append(",\"name\":"); out.appendJSONString(client.name)
            out.append(",\"confidence\":"); out.append(fraction: client.confidence)
            out.append(",\"library_confidence\":"); out.append(fraction: client.libraryConfidence)
            out.append(ascii: "}")
        } else {
            out.append("null")
        }
        let os = t.syn.classification
        out.append(",\"os\":{\"class\":"); out.appendJSONString((os?.osClass ?? .unknown).name)
        out.append(",\"family\":"); out.appendJSONString((os?.family ?? .unknown).name)
        out.append("}}")
    }

    static func writeText(_ t: TLSObservation, to out: TextBuffer) {
        let s = t.syn.fingerprint.segment
        out.append("tls "); out.append(ip: s.ip.source); out.append(ascii: ":"); out.append(s.sourcePort)
        out.append(" > "); out.append(ip: s.ip.destination); out.append(ascii: ":"); out.append(s.destinationPort)
        out.append(" sni="); out.append(string: t.hello.serverName ?? "-")
        out.append(" alpn="); out.append(string: t.hello.protocols.isEmpty ? "-" : t.hello.protocols.joined(separator: ","))
        out.append(" ja4="); out.append(string: t.hello.ja4 ?? "-")
        out.append(" client="); out.append(string: t.client?.family.rawValue ?? "-")
        if let client = t.client { out.append(ascii: "("); out.append(fraction: client.confidence); out.append(ascii: ")") }
        out.append(ascii: "\n")
    }

    static func writeP0f(_ t: TLSObservation, to out: TextBuffer) {
        let s = t.syn.fingerprint.segment
        out.appendBracketedTime(seconds: t.seconds)
        out.append(" mod=tls|cli="); out.append(ip: s.ip.source); out.append(ascii: "/"); out.append(s.sourcePort)
        out.append("|srv="); out.append(ip: s.ip.destination); out.append(ascii: "/"); out.append(s.destinationPort)
        out.append("|subj=cli|family="); out.append(string: t.client?.family.rawValue ?? "???")
        out.append("|ja4="); out.append(string: t.hello.ja4 ?? "???")
        out.append(ascii: "\n")
    }
}
