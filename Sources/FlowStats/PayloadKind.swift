/// What the first bytes of a connection's first payload are: enough to tell the protocols a
/// browser speaks from what a tunnel or a proxy client puts on the wire.
/// One value per payload kind, indexed by `rawValue` (a test holds its size to `PayloadKind.allCases`).
public typealias PerPayloadKind<Value> = InlineArray<9, Value>

public enum PayloadKind: Int, Sendable, CaseIterable {
    /// A TLS ClientHello with a server name or ALPN, as HTTP clients send.
    case tls
    /// A whole ClientHello with neither a server name nor ALPN (`ClientHello.isBare`).
    case bareTLS
    case http
    /// An HTTP request to a proxy: CONNECT, or a request target in absolute form (`GET http://`).
    case httpProxy
    /// A SOCKS 4 request or SOCKS 5 greeting.
    case socks
    case ssh
    case openVPN
    case opaque
    case other

    public var name: String {
        switch self {
        case .tls: "tls"
        case .bareTLS: "tls_bare"
        case .http: "http"
        case .httpProxy: "http_proxy"
        case .socks: "socks"
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

    /// The first four bytes of a request line or an SSH banner, as one big-endian word each
    /// (compared without building an array per payload).
    static let methods: [UInt32] = ["GET ", "POST", "HEAD", "PUT ", "DELE", "OPTI", "CONN", "PATC", "TRAC"].map(word)
    static let sshBanner = word("SSH-")
    static func word(_ text: String) -> UInt32 { text.utf8.prefix(4).reduce(0) { $0 << 8 | UInt32($1) } }
    static let connect = Array("CONNECT ".utf8)
    static let absoluteTarget = Array("http://".utf8)

    /// `payload` is what was captured; `length` the payload's length from the IP header. A TLS
    /// ClientHello is read too (its names, and its JA4 unless `fingerprint` is false).
    public static func classify(
        _ payload: UnsafeRawBufferPointer, length: Int, fingerprint: Bool = true
    ) -> (kind: PayloadKind, hello: ClientHello?) {
        guard payload.count >= 3 else { return (.other, nil) }
        // TLS handshake record (22), version 3.x, carrying a ClientHello (1).
        if payload[0] == 22, payload[1] == 3, payload.count < 6 || payload[5] == 1 {
            let hello = ClientHello(payload, fingerprint: fingerprint)
            return (hello.isBare ? .bareTLS : .tls, hello)
        }
        if payload.count >= 4 {
            let head = UInt32(payload[0]) << 24 | UInt32(payload[1]) << 16 | UInt32(payload[2]) << 8 | UInt32(payload[3])
            if methods.contains(head) { return (isProxyRequest(payload) ? .httpProxy : .http, nil) }
            if head == sshBanner { return (.ssh, nil) }
        }
        if isSocks(payload, length: length) { return (.socks, nil) }
        // OpenVPN over TCP: a 2-byte length that matches the segment, then a hard-reset opcode
        // (P_CONTROL_HARD_RESET_CLIENT_V2 = 7, _V3 = 10) in the top five bits.
        let framed = Int(payload[0]) << 8 | Int(payload[1])
        let opcode = payload[2] >> 3
        if framed + 2 == length, opcode == 7 || opcode == 10 { return (.openVPN, nil) }
        if payload.count >= opaqueMinimum {
            let (bits, n) = ByteEntropy.of(payload)
            if bits >= opaqueShare * ByteEntropy.ceiling(n) { return (.opaque, nil) }
        }
        return (.other, nil)
    }

    /// CONNECT, or a method then a space then `http://`.
    static func isProxyRequest(_ p: UnsafeRawBufferPointer) -> Bool {
        if p.starts(with: connect) { return true }
        guard let space = p.prefix(8).firstIndex(of: 0x20) else { return false }
        return p[(space + 1)...].starts(with: absoluteTarget)
    }

    /// SOCKS 5 greeting (RFC 1928): version 5, a method count, that many methods, nothing else.
    /// SOCKS 4: version 4, command connect or bind, port, address, a user id ending in 0.
    static func isSocks(_ p: UnsafeRawBufferPointer, length: Int) -> Bool {
        switch p[0] {
        case 5: return p[1] > 0 && length == 2 + Int(p[1])
        case 4: return (p[1] == 1 || p[1] == 2) && length >= 9 && length <= 264 && p.count == length && p[length - 1] == 0
        default: return false
        }
    }
}
