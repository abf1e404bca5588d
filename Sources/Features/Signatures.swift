/// The text forms other tools use for the same features: p0f's raw signature and JA4T.
extension Fingerprint {
    /// How the window relates to the MSS, as p0f writes it: `mss*N`, `mtu*N` or the value.
    public enum WindowForm: Equatable, Sendable {
        case mssMultiple(Int)
        case mtuMultiple(Int)
        case value(Int)
    }

    /// The MSS may have been lowered by a middlebox after the sender chose its window, so
    /// multiples of the Ethernet MSS (1460) and MTU (1500) count as well, as in p0f.
    public var windowForm: WindowForm {
        let window = Int(segment.window)
        guard let mss = options.mss.map(Int.init), mss > 0, window > 0 else { return .value(window) }
        if window % mss == 0 { return .mssMultiple(window / mss) }
        if window % 1460 == 0 { return .mssMultiple(window / 1460) }
        let mtu = mss + (segment.ip.version == 4 ? 40 : 60)
        if window % mtu == 0 { return .mtuMultiple(window / mtu) }
        if window % 1500 == 0 { return .mtuMultiple(window / 1500) }
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

/// p0f's names for option kinds, shared by signature output and the p0f importer.
public enum OptionNames {
    public static func name(of kind: UInt8) -> StaticString? {
        switch kind {
        case OptionKind.eol: "eol"
        case OptionKind.nop: "nop"
        case OptionKind.mss: "mss"
        case OptionKind.windowScale: "ws"
        case OptionKind.sackPermitted: "sok"
        case OptionKind.sack: "sack"
        case OptionKind.timestamp: "ts"
        default: nil
        }
    }

    /// Each known kind's name packed little-endian in one word, with its length: writing a
    /// layout stores one word per option instead of switching on the kind.
    static let packedNames: [(word: UInt64, length: Int)] = (0...8).map { kind in
        guard let name = name(of: UInt8(kind)) else { return (0, 0) }
        var word: UInt64 = 0
        for (i, byte) in name.description.utf8.enumerated() { word |= UInt64(byte) << (8 * UInt64(i)) }
        return (word, name.utf8CodeUnitCount)
    }

    public static func write(_ layout: OptionLayout, eolPadding: Int, to out: TextBuffer) {
        out.reserve(layout.count * 8 + 8)
        packedNames.withUnsafeBufferPointer { packed in
            layout.withKinds { kinds in
                for (i, kind) in kinds.enumerated() {
                    if i > 0 { out.append(ascii: ",") }
                    if kind == OptionKind.eol {
                        out.append("eol+")
                        out.append(eolPadding)
                    } else if kind <= 8, packed[Int(kind)].length > 0 {
                        UnsafeMutableRawPointer(out.storage + out.used).storeBytes(of: packed[Int(kind)].word, as: UInt64.self)
                        out.used += packed[Int(kind)].length
                    } else {
                        out.append(ascii: "?")
                        out.append(kind)
                    }
                }
            }
        }
    }
}
