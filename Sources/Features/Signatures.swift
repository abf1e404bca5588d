import Decode
import Formatting

/// The text forms other tools use for the same features: p0f's raw signature and JA4T.
extension Fingerprint {
    /// How the window relates to the MSS, as p0f writes it: `mss*N`, `mtu*N` or the value.
    public enum WindowForm: Equatable, Sendable {
        case mssMultiple(Int)
        case mtuMultiple(Int)
        case value(Int)
    }

    /// The MSS may have been lowered by a middlebox after the sender chose its window, so
    /// multiples of the IPv4 Ethernet MSS and MTU count as well: p0f uses those two for either IP
    /// version, and `raw_sig` stays identical to p0f's.
    public var windowForm: WindowForm {
        let window = Int(segment.window)
        guard let mss = options.mss.map(Int.init), mss > 0, window > 0 else { return .value(window) }
        let ethernetMSS = LinkMTU.ethernetMSS(ipVersion: 4)
        if window % mss == 0 { return .mssMultiple(window / mss) }
        if window % ethernetMSS == 0 { return .mssMultiple(window / ethernetMSS) }
        let mtu = LinkMTU.mtu(mss: mss, ipVersion: segment.ip.version)
        if window % mtu == 0 { return .mtuMultiple(window / mtu) }
        if window % LinkMTU.ethernet == 0 { return .mtuMultiple(window / LinkMTU.ethernet) }
        return .value(window)
    }

    /// p0f's `raw_sig`: `ver:ttl+dist:olen:mss:wsize,scale:olayout:quirks:pclass`.
    public func writeRawSignature(to out: TextBuffer) {
        out.append(segment.ip.version)
        out.append(ascii: ":")
        out.append(segment.ip.ttl)
        out.append(ascii: "+")
        if distanceIsPlausible { out.append(distance) } else { out.append(ascii: "?") }
        out.append(ascii: ":")
        out.append(segment.ip.optionsLength)
        out.append(ascii: ":")
        if let mss = options.mss { out.append(mss) } else { out.append(ascii: "*") }
        out.append(ascii: ":")
        switch windowForm {
        case .mssMultiple(let n): out.append("mss*"); out.append(n)
        case .mtuMultiple(let n): out.append("mtu*"); out.append(n)
        case .value(let n): out.append(n)
        }
        out.append(ascii: ",")
        out.append(options.windowScale ?? 0)
        out.append(ascii: ":")
        writeLayout(to: out)
        out.append(ascii: ":")
        quirks.write(to: out)
        out.append(ascii: ":")
        out.append(ascii: segment.payloadLength > 0 ? "+" : "0")
    }

    /// The option layout in p0f syntax: `mss,nop,ws,sok,sack,ts,eol+N,?K`.
    public func writeLayout(to out: TextBuffer) {
        OptionNames.write(options.layout, eolPadding: options.eolPadding, to: out)
    }

    /// JA4T (FoxIO): `window_kinds_mss_scale`; each EOL padding byte is listed as kind 0.
    public func writeJA4T(to out: TextBuffer) {
        out.append(segment.window)
        out.append(ascii: "_")
        if options.layout.isEmpty {
            out.append("00")
        } else {
            for (i, kind) in options.layout.enumerated() {
                if i > 0 { out.append(ascii: "-") }
                out.append(kind)
            }
            for _ in 0..<options.eolPadding { out.append("-0") }
        }
        out.append(ascii: "_")
        if let mss = options.mss { out.append(mss) } else { out.append("00") }
        out.append(ascii: "_")
        if let scale = options.windowScale { out.append(scale) } else { out.append("00") }
    }
}
