/// What the first bytes of a connection's first payload are: enough to tell the protocols a
/// browser speaks from what a tunnel puts on the wire.
public enum PayloadKind: Int, Sendable, CaseIterable {
    case tls, http, ssh, openVPN, opaque, other

    public var name: String {
        switch self {
        case .tls: "tls"
        case .http: "http"
        case .ssh: "ssh"
        case .openVPN: "openvpn"
        case .opaque: "opaque"
        case .other: "other"
        }
    }

    /// An opaque payload's entropy is at least this share of the most its length allows: random
    /// or encrypted bytes, not text or a structured header.
    public static let opaqueShare: Float = 0.85
    /// Shorter payloads cannot be told from text by their entropy.
    public static let opaqueMinimum = 48

    static let methods: [[UInt8]] = ["GET ", "POST", "HEAD", "PUT ", "DELE", "OPTI", "CONN", "PATC", "TRAC"].map { Array($0.utf8) }

    /// `payload` is what was captured; `length` the payload's length from the IP header.
    public static func classify(_ payload: UnsafeRawBufferPointer, length: Int) -> PayloadKind {
        guard payload.count >= 3 else { return .other }
        // TLS handshake record (22), version 3.x, carrying a ClientHello (1).
        if payload[0] == 22, payload[1] == 3, payload.count < 6 || payload[5] == 1 { return .tls }
        if payload.count >= 4 {
            let head = [payload[0], payload[1], payload[2], payload[3]]
            if methods.contains(head) { return .http }
            if head == Array("SSH-".utf8) { return .ssh }
        }
        // OpenVPN over TCP: a 2-byte length that matches the segment, then a hard-reset opcode
        // (P_CONTROL_HARD_RESET_CLIENT_V2 = 7, _V3 = 10) in the top five bits.
        let framed = Int(payload[0]) << 8 | Int(payload[1])
        let opcode = payload[2] >> 3
        if framed + 2 == length, opcode == 7 || opcode == 10 { return .openVPN }
        if payload.count >= opaqueMinimum {
            let (bits, n) = ByteEntropy.of(payload)
            if bits >= opaqueShare * ByteEntropy.ceiling(n) { return .opaque }
        }
        return .other
    }
}

/// The server name and first ALPN protocol of a TLS ClientHello, as far as the capture holds.
public struct ClientHelloNames: Sendable, Equatable {
    public var serverName: String?
    public var alpn: String?

    /// Reads the extensions of a ClientHello record; stops quietly where the bytes end.
    public init(_ p: UnsafeRawBufferPointer) {
        func u8(_ i: Int) -> Int? { i < p.count ? Int(p[i]) : nil }
        func u16(_ i: Int) -> Int? { i + 1 < p.count ? Int(p[i]) << 8 | Int(p[i + 1]) : nil }
        // record header 5, handshake header 4, version 2, random 32, then the session id.
        var i = 5 + 4 + 2 + 32
        guard let session = u8(i) else { return }
        i += 1 + session
        guard let suites = u16(i) else { return }
        i += 2 + suites
        guard let compression = u8(i) else { return }
        i += 1 + compression
        guard let extensionsLength = u16(i) else { return }
        i += 2
        let end = min(i + extensionsLength, p.count)
        while i + 4 <= end {
            guard let kind = u16(i), let length = u16(i + 2) else { return }
            let body = i + 4
            if kind == 0, let nameLength = u16(body + 3), u8(body + 2) == 0 {
                serverName = Self.text(p, from: body + 5, count: nameLength)
            } else if kind == 16, let protocolLength = u8(body + 2) {
                alpn = Self.text(p, from: body + 3, count: protocolLength)
            }
            i = body + length
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
