import Features
import Formatting
import Match
import Verdict

/// A block per event for a person at a terminal, in the manner of p0f's console output.
enum TextFormat {
    static func write(_ event: SynObservation, database: Database?, to out: TextBuffer) {
        let fp = event.fingerprint
        let s = fp.segment
        out.append(".-[ "); out.append(ip: s.ip.source); out.append(ascii: "/"); out.append(s.sourcePort)
        out.append(" -> "); out.append(ip: s.ip.destination); out.append(ascii: "/"); out.append(s.destinationPort)
        out.append(fp.direction == .syn ? " (syn) ]-\n|\n| client   = " : " (syn+ack) ]-\n|\n| server   = ")
        out.append(ip: s.ip.source)
        out.append("\n| time     = "); out.appendTimestamp(seconds: event.seconds, microseconds: event.microseconds)
        if let c = event.classification, let database {
            writeOS(c, database: database, to: out)
        }
        out.append("\n| dist     = ")
        if fp.distanceIsPlausible { out.append(fp.distance) } else { out.append(ascii: "?") }
        out.append(" (ttl "); out.append(s.ip.ttl); out.append(", initial "); out.append(fp.initialTTL)
        out.append(")\n| window   = "); out.append(s.window)
        switch fp.windowForm {
        case .mssMultiple(let n): out.append(" (mss*"); out.append(n); out.append(ascii: ")")
        case .mtuMultiple(let n): out.append(" (mtu*"); out.append(n); out.append(ascii: ")")
        case .value: break
        }
        if let scale = fp.options.windowScale { out.append(", scale "); out.append(scale) }
        out.append("\n| options  = ")
        if fp.options.layout.isEmpty && fp.options.eolPadding == 0 { out.append("none") } else { fp.writeLayout(to: out) }
        if let mss = fp.options.mss { out.append(" (mss "); out.append(mss); out.append(ascii: ")") }
        out.append("\n| quirks   = ")
        if fp.quirks.isEmpty { out.append("none") } else { fp.quirks.write(to: out, separator: " ") }
        if let path = event.path { writePath(path, database: database, to: out) }
        out.append("\n| raw_sig  = "); fp.writeRawSignature(to: out)
        out.append("\n| ja4t     = "); fp.writeJA4T(to: out)
        out.append("\n`----\n\n")
    }

    static func writePath(_ path: NetworkPath, database: Database?, to out: TextBuffer) {
        guard let mtu = path.mtu else { return }
        out.append("\n| link     = "); out.append(string: path.linkName(in: database) ?? "unknown")
        out.append(" (mtu "); out.append(mtu)
        if path.tunnel { out.append(", tunnel") }
        if let original = path.originalMSS { out.append(", mss clamped from "); out.append(original) }
        out.append(ascii: ")")
    }

    static func write(_ event: JudgedRequest, database: Database?, to out: TextBuffer) {
        let observation = event.observation
        let s = observation.syn.fingerprint.segment
        let v = event.verdict
        out.append(".-[ "); out.append(ip: s.ip.source); out.append(ascii: "/"); out.append(s.sourcePort)
        out.append(" -> "); out.append(ip: s.ip.destination); out.append(ascii: "/"); out.append(s.destinationPort)
        out.append(" (http request) ]-\n|\n| client   = "); out.append(ip: s.ip.source)
        out.append("\n| time     = "); out.appendTimestamp(seconds: observation.seconds, microseconds: observation.microseconds)
        out.append("\n| request  = "); out.append(printable: observation.request.method)
        out.append(ascii: " "); out.append(printable: observation.request.host ?? "-")
        out.append("\n| agent    = "); out.append(printable: observation.request.userAgent ?? "-")
        if let hint = observation.request.platformHint { out.append("\n| platform = "); out.append(printable: hint) }
        if !observation.request.proxyHeaders.isEmpty {
            out.append("\n| proxy    = "); out.append(printable: observation.request.proxyHeaders.joined(separator: ", "))
        }
        out.append("\n| ua os    = ")
        if let claimed = v.claimed {
            out.append(string: claimed.osClass?.name ?? "?"); out.append(" ["); out.append(string: claimed.family.name);
            out.append(ascii: "]")
        } else {
            out.append("none named")
        }
        out.append("\n| tcp os   = ")
        if let stack = v.stack {
            out.append(string: stack.osClass.name); out.append(" ["); out.append(string: stack.family.name)
            out.append("], confidence "); out.append(fraction: stack.confidence)
        } else {
            out.append("not classified")
        }
        if let path = observation.syn.path { writePath(path, database: database, to: out) }
        out.append("\n| verdict  = "); out.append(v.flagged ? "FLAGGED " : "ok ")
        out.append(fraction: v.score)
        if !v.reasons.isEmpty {
            out.append(" ("); out.append(string: v.reasonNames.joined(separator: ", ")); out.append(ascii: ")")
        }
        out.append("\n`----\n\n")
    }

    static func writeOS(_ c: Classification, database: Database, to out: TextBuffer) {
        out.append("\n| os       = ")
        if c.osClass == .unknown {
            out.append("unknown")
        } else if let best = c.bestEntryIndex {
            out.append(string: database.display[best].label)
        }
        out.append(" ["); out.append(string: c.family.name); out.append("], confidence ")
        out.append(fraction: c.confidence); out.append(", "); out.append(string: c.kind.rawValue); out.append(" match")
        if !c.best.isEmpty {
            out.append("\n| guesses  = ")
            for (i, candidate) in c.best.enumerated() {
                if i > 0 { out.append("; ") }
                out.append(string: database.display[candidate.entryIndex].label)
                out.append(" "); out.append(fraction: candidate.score)
            }
            out.append("\n| classes  = ")
            var first = true
            for osClass in OSClass.labels where c.classScores[osClass.rawValue] >= 0.01 {
                if !first { out.append(", ") }
                first = false
                out.append(string: osClass.name); out.append(ascii: " "); out.append(fraction: c.classScores[osClass.rawValue])
            }
        }
    }
}
