import Decode
import Features
import Formatting
import Match

/// The `syn` / `synack` JSON line. Field names are the stable schema in the README.
enum JSONFormat {
    /// Everything but the `path` and `os` objects and the closing brace.
    static func writeFeatures(_ event: SynObservation, to out: TextBuffer) {
        let fp = event.fingerprint
        let s = fp.segment
        let o = fp.options
        out.append(fp.direction == .syn ? "{\"type\":\"syn\",\"ts\":\"" : "{\"type\":\"synack\",\"ts\":\"")
        out.appendTimestamp(seconds: event.seconds, microseconds: event.microseconds)
        out.append("\",\"src_ip\":\""); out.append(ip: s.ip.source)
        out.append("\",\"src_port\":"); out.append(s.sourcePort)
        out.append(",\"dst_ip\":\""); out.append(ip: s.ip.destination)
        out.append("\",\"dst_port\":"); out.append(s.destinationPort)
        appendIPFields(fp, to: out)
        out.append(",\"ecn_bits\":"); out.append(s.ip.tos & 3)
        out.append(",\"flow_label\":"); out.append(s.ip.flowLabel)
        out.append(",\"ip_length\":"); out.append(s.ip.totalLength)
        out.append(",\"ip_options_length\":"); out.append(s.ip.optionsLength)
        out.append(",\"tcp_flags\":"); out.append(s.flags.rawValue)
        out.append(",\"tcp_header_length\":"); out.append(s.headerLength)
        out.append(",\"window\":"); out.append(s.window)
        out.append(",\"seq\":"); out.append(s.sequence)
        out.append(",\"ack\":"); out.append(s.acknowledgment)
        out.append(",\"urgent_pointer\":"); out.append(s.urgentPointer)
        out.append(",\"payload_length\":"); out.append(s.payloadLength)
        out.append(",\"options\":\""); fp.writeLayout(to: out)
        out.append("\",\"eol_padding\":"); out.append(o.eolPadding)
        out.append(",\"mss\":"); out.append(optional: o.mss)
        out.append(",\"window_scale\":"); out.append(optional: o.windowScale)
        out.append(",\"window_multiple\":")
        switch fp.windowForm {
        case .mssMultiple(let n): out.append("\"mss*"); out.append(n); out.append(ascii: "\"")
        case .mtuMultiple(let n): out.append("\"mtu*"); out.append(n); out.append(ascii: "\"")
        case .value: out.append("null")
        }
        out.append(",\"sack_permitted\":"); out.append(bool: o.sackPermitted)
        out.append(",\"sack_blocks\":"); out.append(o.sackBlocks)
        out.append(",\"ts_val\":"); out.append(optional: o.timestampValue)
        out.append(",\"ts_ecr\":"); out.append(optional: o.timestampEcho)
        out.append(",\"tfo_cookie_length\":"); out.append(optional: o.fastOpenCookieLength)
        out.append(",\"mptcp_subtype\":"); out.append(optional: o.mptcpSubtype)
        out.append(",\"md5\":"); out.append(bool: o.md5)
        out.append(",\"tcp_ao\":"); out.append(bool: o.authentication)
        out.append(",\"unknown_options\":"); out.append(o.unknownCount)
        out.append(",\"quirks\":"); appendQuirks(fp, to: out)
        out.append(",\"raw_sig\":\""); fp.writeRawSignature(to: out)
        out.append("\",\"ja4t\":\""); fp.writeJA4T(to: out)
        out.append(ascii: "\"")
    }

    /// `,"ip_version":…,"ttl":…,"initial_ttl":…,"distance":…,"df":…,"ip_id":…,"tos":…`
    static func appendIPFields(_ fp: Fingerprint, to out: TextBuffer) {
        let ip = fp.segment.ip
        out.append(",\"ip_version\":"); out.append(ip.version)
        out.append(",\"ttl\":"); out.append(ip.ttl)
        out.append(",\"initial_ttl\":"); out.append(fp.initialTTL)
        out.append(",\"distance\":"); out.append(fp.distance)
        out.append(",\"df\":"); out.append(bool: ip.dontFragment)
        out.append(",\"ip_id\":"); out.append(ip.ipID)
        out.append(",\"tos\":"); out.append(ip.tos)
    }

    /// The quirks' names as a JSON array.
    static func appendQuirks(_ fp: Fingerprint, to out: TextBuffer) {
        out.append(ascii: "[")
        var first = true
        fp.quirks.forEachName { name in
            if !first { out.append(ascii: ",") }
            first = false
            out.append(ascii: "\""); out.append(name); out.append(ascii: "\"")
        }
        out.append(ascii: "]")
    }

    static func writePath(_ path: NetworkPath, database: Database?, to out: TextBuffer) {
        writePathWithoutHops(path, database: database, to: out)
        out.append(",\"hops\":"); out.append(optional: path.hops)
        out.append(ascii: "}")
    }

    /// The path object up to its hop count, left open.
    static func writePathWithoutHops(_ path: NetworkPath, database: Database?, to out: TextBuffer) {
        out.append("{\"mss\":"); out.append(optional: path.mss)
        out.append(",\"mtu\":"); out.append(optional: path.mtu)
        out.append(",\"link\":")
        if let index = path.linkIndex, let database { out.append(string: database.linkNamesJSON[index]) } else { out.append("null") }
        out.append(",\"tunnel\":"); out.append(bool: path.tunnel)
        out.append(",\"clamped\":"); out.append(bool: path.clamped)
        out.append(",\"original_mss\":"); out.append(optional: path.originalMSS)
    }

    static func writeOS(_ c: Classification, database: Database, to out: TextBuffer) {
        out.append("{\"class\":\""); out.append(string: c.osClass.name)
        out.append("\",\"family\":\""); out.append(string: c.family.name)
        let best = c.bestEntryIndex.map { database.display[$0] }
        out.append("\",\"name\":"); out.append(string: best?.nameJSON ?? "null")
        out.append(",\"flavor\":"); out.append(string: best?.flavorJSON ?? "null")
        out.append(",\"confidence\":"); out.append(fraction: c.confidence)
        out.append(",\"family_confidence\":"); out.append(fraction: c.familyConfidence)
        out.append(",\"match\":\""); out.append(string: c.kind.rawValue)
        out.append("\",\"best\":[")
        for (i, candidate) in c.best.enumerated() {
            if i > 0 { out.append(ascii: ",") }
            let entry = database.display[candidate.entryIndex]
            out.append("{\"id\":"); out.append(string: entry.idJSON)
            out.append(",\"label\":"); out.append(string: entry.labelJSON)
            out.append(",\"score\":"); out.append(fraction: candidate.score)
            out.append(ascii: "}")
        }
        out.append("],\"class_scores\":{")
        var first = true
        for osClass in OSClass.labels where c.classScores[osClass.rawValue] >= 0.005 {
            if !first { out.append(ascii: ",") }
            first = false
            out.append(ascii: "\""); out.append(string: osClass.name); out.append("\":")
            out.append(fraction: c.classScores[osClass.rawValue])
        }
        out.append("}}")
    }
}
