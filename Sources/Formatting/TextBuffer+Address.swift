import Decode

/// Addresses written straight into a `TextBuffer`, without Foundation (RFC 5952 for IPv6).
extension TextBuffer {
    /// A client's network (`IPAddress.clientNetwork`): `192.0.2.0/24`, `2001:db8:1::/48`.
    public func append(network address: IPAddress) {
        append(ip: address.clientNetwork)
        append(ascii: "/")
        append(address.clientNetworkBits)
    }

    public func append(ip: IPAddress) {
        if !ip.isV6 {
            let v = ip.v4
            append(v >> 24); append(ascii: ".")
            append((v >> 16) & 0xFF); append(ascii: ".")
            append((v >> 8) & 0xFF); append(ascii: ".")
            append(v & 0xFF)
            return
        }
        var groups = InlineArray<8, UInt16>(repeating: 0)
        for i in 0..<4 {
            groups[i] = UInt16(truncatingIfNeeded: ip.high >> UInt64(48 - 16 * i))
            groups[i + 4] = UInt16(truncatingIfNeeded: ip.low >> UInt64(48 - 16 * i))
        }
        // RFC 5952: the longest run of two or more zero groups becomes "::" (the first on a tie).
        var bestStart = -1, bestLength = 1, runStart = -1
        for i in 0...8 {
            if i < 8, groups[i] == 0 {
                if runStart < 0 { runStart = i }
            } else if runStart >= 0 {
                if i - runStart > bestLength { bestStart = runStart; bestLength = i - runStart }
                runStart = -1
            }
        }
        var i = 0
        while i < 8 {
            if i == bestStart {
                append("::")
                i += bestLength
                continue
            }
            if i > 0, i != bestStart + bestLength { append(ascii: ":") }
            appendHex(groups[i])
            i += 1
        }
    }
}
