import Crypto

/// What a TLS ClientHello says about the client's TLS library: the server name, the first ALPN
/// protocol, and the JA4 fingerprint (FoxIO's JA4 specification) when the whole hello was captured.
public struct ClientHello: Sendable, Equatable {
    public var serverName: String?
    public var alpn: String?
    /// `t13d1516h2_8daaf6152771_e5627efa2ab1`; nil when the capture cut the hello short (a
    /// snaplen, or a hello longer than one segment).
    public var ja4: String?
    /// The extensions were read to their end: an absent server name or ALPN is really absent.
    public var complete = false
    /// What the hello offers, in the client's order and without GREASE values (RFC 8701): the
    /// structure a TLS library gives itself away by (`TLSStacks`).
    public var ciphers: [UInt16] = []
    public var extensions: [UInt16] = []
    /// `supported_groups`.
    public var groups: [UInt16] = []
    /// `supported_versions`, or the legacy version when the hello has none.
    public var versions: [UInt16] = []
    /// Every ALPN protocol, in order (`alpn` is the first).
    public var protocols: [String] = []
    /// GREASE values anywhere: in the suites, the extensions, the groups or the versions.
    public var grease = false

    /// The longest record a ClientHello is read from across segments: a TLS record's most
    /// (2^14 bytes) and its header.
    public static let maximumRecord = 5 + (1 << 14)

    /// No host name and no ALPN: a bare TLS library wrapping some other stream, as TLS tunnels
    /// (stunnel) do, not an HTTP client. Browsers and HTTP libraries send ALPN, send SNI for a
    /// host name and leave it out for an address; an address as server name is forbidden by
    /// RFC 6066 and is what a wrapper sends when it copies its `connect` setting. A hello cut
    /// short counts as bare only by such an address: its ALPN may lie past the cut.
    public var isBare: Bool { alpn == nil && (serverNameIsAddress || (complete && serverName == nil)) }

    /// The server name is an IPv4 or IPv6 literal.
    public var serverNameIsAddress: Bool {
        guard let name = serverName else { return false }
        if name.contains(":") { return true }
        return name.split(separator: ".", omittingEmptySubsequences: false).count == 4 && name.allSatisfy { $0 == "." || $0.isNumber }
    }

    /// Reads a ClientHello record; stops quietly where the bytes end. With `fingerprint` false,
    /// `ja4` stays nil: a caller that keeps one JA4 among many hellos (a flow window) skips
    /// computing the others' (perf).
    public init(_ p: UnsafeRawBufferPointer, fingerprint: Bool = true) {
        func u8(_ i: Int) -> Int? { i < p.count ? Int(p[i]) : nil }
        func u16(_ i: Int) -> Int? { i + 1 < p.count ? Int(p[i]) << 8 | Int(p[i + 1]) : nil }
        // record header 5, handshake header 4, then the legacy version.
        guard let legacyVersion = u16(9) else { return }
        var i = 9 + 2 + 32
        guard let session = u8(i) else { return }
        i += 1 + session
        guard let suitesLength = u16(i) else { return }
        var c = i + 2
        while c + 1 < i + 2 + suitesLength, let suite = u16(c) {
            if Self.isGrease(suite) { grease = true } else { ciphers.append(UInt16(suite)) }
            c += 2
        }
        i += 2 + suitesLength
        guard let compression = u8(i) else { return }
        i += 1 + compression
        guard let extensionsLength = u16(i) else { return }
        i += 2
        let end = i + extensionsLength
        var signatureAlgorithms: [UInt16] = []
        var alpnBytes: [UInt8] = []
        while i + 4 <= end {
            guard let kind = u16(i), let length = u16(i + 2) else { return }
            let body = i + 4
            guard body + length <= p.count else { return }
            if Self.isGrease(kind) { grease = true } else { extensions.append(UInt16(kind)) }
            switch kind {
            case 0x0000:
                // Names and protocols are read within their extension only: bytes past it are
                // not what the server reads.
                if let nameLength = u16(body + 3), u8(body + 2) == 0, body + 5 + nameLength <= body + length {
                    serverName = Self.text(p, from: body + 5, count: nameLength)
                }
            case 0x0010:
                if let protocolLength = u8(body + 2), body + 3 + protocolLength <= body + length {
                    alpnBytes = Array(p[body + 3..<body + 3 + protocolLength])
                    alpn = Self.text(p, from: body + 3, count: protocolLength)
                }
                var s = body + 2
                while s < body + length, let protocolLength = u8(s), s + 1 + protocolLength <= body + length {
                    if let name = Self.text(p, from: s + 1, count: protocolLength) { protocols.append(name) }
                    s += 1 + protocolLength
                }
            case 0x000A:
                var s = body + 2
                while s + 1 < body + length, let group = u16(s) {
                    if Self.isGrease(group) { grease = true } else { groups.append(UInt16(group)) }
                    s += 2
                }
            case 0x000D:
                var s = body + 2
                while s + 1 < body + length, let algorithm = u16(s) {
                    signatureAlgorithms.append(UInt16(algorithm))
                    s += 2
                }
            case 0x002B:
                var s = body + 1
                while s + 1 < body + length, let offered = u16(s) {
                    if Self.isGrease(offered) { grease = true } else { versions.append(UInt16(offered)) }
                    s += 2
                }
            default: break
            }
            i = body + length
        }
        guard i == end else { return }
        complete = true
        if versions.isEmpty { versions = [UInt16(legacyVersion)] }
        guard fingerprint else { return }
        ja4 = Self.ja4(
            version: Int(versions.max() ?? 0), sni: extensions.contains(0x0000), ciphers: ciphers, extensions: extensions, alpn: alpnBytes,
            signatureAlgorithms: signatureAlgorithms)
    }

    /// GREASE values (RFC 8701) are left out of JA4: 0x0A0A, 0x1A1A, ... 0xFAFA.
    static func isGrease(_ value: Int) -> Bool { value & 0x0F0F == 0x0A0A && value >> 8 == value & 0xFF }

    static func ja4(
        version: Int, sni: Bool, ciphers: [UInt16], extensions: [UInt16], alpn: [UInt8], signatureAlgorithms: [UInt16]
    )
        -> String
    {
        let version =
            switch version {
            case 0x0304: "13"
            case 0x0303: "12"
            case 0x0302: "11"
            case 0x0301: "10"
            case 0x0300: "s3"
            case 0x0002: "s2"
            default: "00"
            }
        func twoDigits(_ n: Int) -> String { n < 10 ? "0\(min(n, 99))" : "\(min(n, 99))" }
        func isAlphanumeric(_ b: UInt8) -> Bool { (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) }
        var alpnPart = "00"
        if let first = alpn.first, let last = alpn.last {
            if isAlphanumeric(first) && isAlphanumeric(last) {
                alpnPart = String(decoding: [first, last], as: UTF8.self)
            } else {
                alpnPart = String(decoding: [hexDigits[Int(first >> 4)], hexDigits[Int(last & 0x0F)]], as: UTF8.self)
            }
        }
        let a = "t\(version)\(sni ? "d" : "i")\(twoDigits(ciphers.count))\(twoDigits(extensions.count))\(alpnPart)"
        // The hashed lists are written as bytes: formatting each value as a String was most of
        // a hello's time after the matching (perf).
        var text: [UInt8] = []
        text.reserveCapacity(5 * (ciphers.count + extensions.count + signatureAlgorithms.count) + 1)
        func list(_ values: [UInt16]) {
            for value in values {
                if text.count > 0 && text.last != UInt8(ascii: "_") { text.append(UInt8(ascii: ",")) }
                let v = Int(value)
                text.append(hexDigits[v >> 12])
                text.append(hexDigits[(v >> 8) & 0xF])
                text.append(hexDigits[(v >> 4) & 0xF])
                text.append(hexDigits[v & 0xF])
            }
        }
        func truncatedHash() -> String {
            let hash = ClientHello.truncatedHex(SHA256.hash(data: text))
            text.removeAll(keepingCapacity: true)
            return hash
        }
        list(ciphers.sorted())
        let b = ciphers.isEmpty ? "000000000000" : truncatedHash()
        let c: String
        if extensions.isEmpty {
            c = "000000000000"
        } else {
            list(extensions.filter { $0 != 0x0000 && $0 != 0x0010 }.sorted())
            if !signatureAlgorithms.isEmpty {
                text.append(UInt8(ascii: "_"))
                list(signatureAlgorithms)
            }
            c = truncatedHash()
        }
        return "\(a)_\(b)_\(c)"
    }

    static let hexDigits = Array("0123456789abcdef".utf8)

    /// A digest's first six bytes as twelve lower-case hex digits, the form of JA4's (and JA4H's)
    /// hashed parts; written in place (an array per byte was a tenth of a hello's time, perf).
    public static func truncatedHex(_ digest: SHA256.Digest) -> String {
        String(unsafeUninitializedCapacity: 12) { text in
            digest.withUnsafeBytes { bytes in
                for i in 0..<6 {
                    text[2 * i] = hexDigits[Int(bytes[i] >> 4)]
                    text[2 * i + 1] = hexDigits[Int(bytes[i] & 0xF)]
                }
            }
            return 12
        }
    }

    /// Printable ASCII only (a name is shown to people and written into events).
    static func text(_ p: UnsafeRawBufferPointer, from start: Int, count: Int) -> String? {
        guard count > 0, start + count <= p.count, count <= 255 else { return nil }
        let bytes = p[start..<start + count]
        guard bytes.allSatisfy({ $0 >= 0x21 && $0 < 0x7F }) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
