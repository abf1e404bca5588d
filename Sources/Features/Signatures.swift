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

    /// p0f's order of divisors, so `raw_sig` reads as p0f's: the MSS, and the MSS less the 12
    /// bytes of a timestamp option when the SYN sends a timestamp (non-zero, as p0f asks); the
    /// IPv4 Ethernet MSS, and less 12, for either IP version (a middlebox may have
    /// lowered the MSS after the window was chosen), and the IPv6 one; then MTUs: MSS plus the
    /// minimal IPv4 headers, plus the headers actually sent, plus the IPv6 headers, and 1500.
    /// p0f's last rule for SYN+ACKs, multiples of the peer's MSS, needs the SYN and is left out.
    public var windowForm: WindowForm {
        let window = Int(segment.window)
        guard let mss = options.mss.map(Int.init), mss >= 100, window > 0 else { return .value(window) }
        let v6 = segment.ip.version == 6
        let ipv4MSS = LinkMTU.ethernetMSS(ipVersion: 4)
        let ipv6MSS = LinkMTU.ethernetMSS(ipVersion: 6)
        if window % mss == 0 { return .mssMultiple(window / mss) }
        if (options.timestampValue ?? 0) != 0 && window % (mss - 12) == 0 { return .mssMultiple(window / (mss - 12)) }
        if window % ipv4MSS == 0 { return .mssMultiple(window / ipv4MSS) }
        if window % (ipv4MSS - 12) == 0 { return .mssMultiple(window / (ipv4MSS - 12)) }
        if v6 && window % ipv6MSS == 0 { return .mssMultiple(window / ipv6MSS) }
        if v6 && window % (ipv6MSS - 12) == 0 { return .mssMultiple(window / (ipv6MSS - 12)) }
        let minimalIPv4 = mss + LinkMTU.headerBytes(ipVersion: 4)
        let sent = mss + LinkMTU.headerBytes(ipVersion: segment.ip.version) + segment.ip.optionsLength + segment.headerLength - 20
        let minimalIPv6 = mss + LinkMTU.headerBytes(ipVersion: 6)
        if window % minimalIPv4 == 0 { return .mtuMultiple(window / minimalIPv4) }
        if window % sent == 0 { return .mtuMultiple(window / sent) }
        if v6 && window % minimalIPv6 == 0 { return .mtuMultiple(window / minimalIPv6) }
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
        out.append(options.mss ?? 0)  // p0f writes 0 for a SYN without MSS
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
