/// The parts of an HTTP/1.x request head that a verdict uses.
public struct HTTPRequestHead: Sendable, Equatable {
    public var method: String
    public var host: String?
    public var userAgent: String?
    public var platformHint: String?  // Sec-CH-UA-Platform
    public var proxyHeaders: [String] = []  // names of Via / X-Forwarded-For / Forwarded present
    /// FoxIO's JA4H of the request, when it was read from the capture (not for API checks).
    public var ja4h: String?

    public init(
        method: String, host: String? = nil, userAgent: String? = nil, platformHint: String? = nil,
        proxyHeaders: [String] = [], ja4h: String? = nil
    ) {
        self.method = method
        self.host = host
        self.userAgent = userAgent
        self.platformHint = platformHint
        self.proxyHeaders = proxyHeaders
        self.ja4h = ja4h
    }

    /// The longest text kept per field in host records and events: real User-Agents run to a
    /// few hundred bytes; more is a client filling memory.
    public static let keptLength = (method: 16, host: 256, userAgent: 512, platformHint: 64)

    /// `text` cut to at most `maximum` bytes of UTF-8, at a character boundary.
    public static func cut(_ text: String, to maximum: Int) -> String {
        let utf8 = text.utf8
        var end = utf8.index(utf8.startIndex, offsetBy: maximum, limitedBy: utf8.endIndex) ?? utf8.endIndex
        while end > utf8.startIndex, end != utf8.endIndex, utf8[end] & 0xC0 == 0x80 { end = utf8.index(before: end) }
        return String(decoding: utf8[..<end], as: UTF8.self)
    }

    /// Header names that say a proxy forwarded the request.
    public static let proxyHeaderNames = ["via", "x-forwarded-for", "forwarded"]

    /// Reads the headers a verdict uses from (name, value) pairs, names in any case.
    public mutating func take(header name: String, value: String) {
        var name = name
        guard let known = name.withUTF8({ KnownHeader(UnsafeRawBufferPointer($0)) }) else { return }
        take(known, value: value)
    }

    /// Keeps the value of a header the verdict reads (the others are not asked for).
    mutating func take(_ header: KnownHeader, value: String) {
        switch header {
        case .host: host = value
        case .userAgent: userAgent = value
        case .platformHint: platformHint = value
        case .proxy(let name): if !proxyHeaders.contains(name) { proxyHeaders.append(name) }
        case .cookie, .referer, .acceptLanguage: break
        }
    }
}

/// The request headers the verdict or JA4H reads, known by their name's bytes in any case:
/// requests are read from the capture for every connection, and a String per header name (and
/// its lower-case copy) was most of the cost of reading them (perf).
enum KnownHeader: Equatable {
    case host, userAgent, platformHint, cookie, referer, acceptLanguage
    case proxy(String)  // its name in lower case, from `HTTPRequestHead.proxyHeaderNames`

    /// Whether the verdict keeps the header's value (JA4H reads the rest).
    var isRead: Bool {
        switch self {
        case .host, .userAgent, .platformHint, .proxy: true
        case .cookie, .referer, .acceptLanguage: false
        }
    }

    private static let names: [(name: [UInt8], header: KnownHeader)] =
        [
            ("host", KnownHeader.host), ("user-agent", .userAgent), ("sec-ch-ua-platform", .platformHint), ("cookie", .cookie),
            ("referer", .referer), ("accept-language", .acceptLanguage),
        ].map { (Array($0.0.utf8), $0.1) } + HTTPRequestHead.proxyHeaderNames.map { (Array($0.utf8), .proxy($0)) }

    init?(_ name: UnsafeRawBufferPointer) {
        for known in KnownHeader.names where known.name.count == name.count {
            var same = true
            for (i, byte) in known.name.enumerated() where (name[i] | (name[i] &- 0x41 < 26 ? 0x20 : 0)) != byte {
                same = false
                break
            }
            if same {
                self = known.header
                return
            }
        }
        return nil
    }
}
