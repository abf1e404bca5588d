import Features
import Formatting
import Match
import Tables
import Verdict

/// The `http` event and the alert line: a connection's first request, its SYN's OS guess and
/// path, and the verdict. Both share this layout so a log watcher parses one schema.
public enum RequestJSON {
    /// `source` says where the User-Agent came from: `capture` (plain HTTP) or `api` (a check).
    /// `renderedOS`, when given, is the `os` object already written for this answer.
    public static func write(
        _ event: JudgedRequest, type: StaticString, source: StaticString = "capture",
        database: Database?, labels: EventLabels, renderedOS: TextBuffer? = nil, scratch: TextBuffer = TextBuffer(capacity: 4096),
        to out: TextBuffer
    ) {
        let observation = event.observation
        labels.write(
            type: type, kind: type.withUTF8Buffer { $0.elementsEqual("alert".utf8) } ? "alert" : "event",
            seconds: observation.seconds, microseconds: observation.microseconds,
            flow: FlowKey(observation.syn.fingerprint.segment), userAgent: observation.request.userAgent,
            method: observation.request.method,
            scratch: scratch, to: out
        ) { out in
            writeNative(event, type: type, source: source, database: database, labels: labels, renderedOS: renderedOS, to: out)
        }
    }

    /// The native object, without its line break.
    static func writeNative(
        _ event: JudgedRequest, type: StaticString, source: StaticString, database: Database?, labels: EventLabels,
        renderedOS: TextBuffer?, to out: TextBuffer
    ) {
        let observation = event.observation
        let syn = observation.syn
        let fp = syn.fingerprint
        let s = fp.segment
        let request = observation.request
        out.append("{\"type\":\""); out.append(type)
        out.append("\",\"source\":\""); out.append(source)
        out.append("\",\"ts\":\""); out.appendTimestamp(seconds: observation.seconds, microseconds: observation.microseconds)
        out.append("\",\"src_ip\":\""); out.append(ip: s.ip.source)
        out.append("\",\"src_port\":"); out.append(s.sourcePort)
        out.append(",\"dst_ip\":\""); out.append(ip: s.ip.destination)
        out.append("\",\"dst_port\":"); out.append(s.destinationPort)
        out.append(",\"syn_ts\":\""); out.appendTimestamp(seconds: syn.seconds, microseconds: syn.microseconds)
        out.append("\",")
        writeRequestFields(request, to: out)
        out.append(",\"ja4h\":"); out.appendJSONString(optional: request.ja4h)
        labels.appendCommon(s, to: out)
        out.append(",\"raw_sig\":\""); fp.writeRawSignature(to: out)
        out.append("\",\"ja4t\":\""); fp.writeJA4T(to: out)
        out.append("\",\"path\":")
        if let path = syn.path { JSONFormat.writePath(path, database: database, to: out) } else { out.append("null") }
        if let renderedOS {
            out.append(",\"os\":")
            out.append(renderedOS)
        } else if let c = syn.classification, let database {
            out.append(",\"os\":")
            JSONFormat.writeOS(c, database: database, to: out)
        }
        out.append(",\"verdict\":")
        writeVerdict(event.verdict, to: out)
        out.append(ascii: "}")
    }

    public static func writeVerdict(_ v: Verdict, to out: TextBuffer) {
        out.append("{\"flagged\":"); out.append(bool: v.flagged)
        out.append(",\"score\":"); out.append(fraction: v.score)
        out.append(",\"reasons\":[")
        let names = v.tunnelRules.isEmpty ? v.reasons.map(\.rawValue) : v.reasonNames
        for (i, name) in names.enumerated() {
            if i > 0 { out.append(ascii: ",") }
            out.append(ascii: "\""); out.append(string: name); out.append(ascii: "\"")
        }
        out.append("],\"ua_os\":")
        if let claimed = v.claimed {
            out.append("{\"class\":")
            if let osClass = claimed.osClass { out.appendJSONString(osClass.name) } else { out.append("null") }
            out.append(",\"family\":"); out.appendJSONString(claimed.family.name)
            out.append(ascii: "}")
        } else {
            out.append("null")
        }
        out.append(",\"tcp_os\":")
        if let stack = v.stack {
            out.append("{\"class\":"); out.appendJSONString(stack.osClass.name)
            out.append(",\"family\":"); out.appendJSONString(stack.family.name)
            out.append(",\"confidence\":"); out.append(fraction: stack.confidence)
            out.append(",\"family_confidence\":"); out.append(fraction: stack.familyConfidence)
            out.append(ascii: "}")
        } else {
            out.append("null")
        }
        out.append(",\"tls\":")
        if let tls = v.tls {
            out.append("{\"family\":"); out.appendJSONString(tls.family.rawValue)
            out.append(",\"library\":"); out.appendJSONString(tls.family.library)
            out.append(",\"confidence\":"); out.append(fraction: tls.confidence)
            out.append(",\"library_confidence\":"); out.append(fraction: tls.libraryConfidence)
            out.append(ascii: "}")
        } else {
            out.append("null")
        }
        out.append(ascii: "}")
    }

    /// `"method":…,"host":…,"user_agent":…,"platform_hint":…,"proxy_headers":[…]`
    static func writeRequestFields(_ request: HTTPRequestHead, to out: TextBuffer) {
        out.append("\"method\":"); out.appendJSONString(optional: request.method.isEmpty ? nil : request.method)
        out.append(",\"host\":"); out.appendJSONString(optional: request.host)
        out.append(",\"user_agent\":"); out.appendJSONString(optional: request.userAgent)
        out.append(",\"platform_hint\":"); out.appendJSONString(optional: request.platformHint)
        out.append(",\"proxy_headers\":[")
        for (i, name) in request.proxyHeaders.enumerated() {
            if i > 0 { out.append(ascii: ",") }
            out.appendJSONString(name)
        }
        out.append(ascii: "]")
    }

    /// A kept connection for the lookup API: `{"syn":{…the syn event…},"request":{…}|null}`.
    public static func writeConnection(_ record: ConnectionRecord, database: Database?, to out: TextBuffer) {
        let syn = record.syn
        out.append("{\"syn\":")
        JSONFormat.writeFeatures(syn, to: out)
        if let path = syn.path {
            out.append(",\"path\":")
            JSONFormat.writePath(path, database: database, to: out)
        }
        if let c = syn.classification, let database {
            out.append(",\"os\":")
            JSONFormat.writeOS(c, database: database, to: out)
        }
        out.append("},\"request\":")
        if let request = record.request {
            out.append(ascii: "{")
            writeRequestFields(request, to: out)
            out.append(ascii: "}")
        } else {
            out.append("null")
        }
        out.append(ascii: "}")
    }
}
