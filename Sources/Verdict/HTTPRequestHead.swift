/// The parts of an HTTP/1.x request head that a verdict uses.
public struct HTTPRequestHead: Sendable, Equatable {
    public var method: String
    public var host: String?
    public var userAgent: String?
    public var platformHint: String?  // Sec-CH-UA-Platform
    public var proxyHeaders: [String] = []  // names of Via / X-Forwarded-For / Forwarded present

    public init(
        method: String, host: String? = nil, userAgent: String? = nil, platformHint: String? = nil,
        proxyHeaders: [String] = []
    ) {
        self.method = method
        self.host = host
        self.userAgent = userAgent
        self.platformHint = platformHint
        self.proxyHeaders = proxyHeaders
    }

    /// Header names that say a proxy forwarded the request.
    public static let proxyHeaderNames = ["via", "x-forwarded-for", "forwarded"]

    /// Reads the headers a verdict uses from (name, value) pairs, names in any case.
    public mutating func take(header name: String, value: String) {
        switch name.lowercased() {
        case "host": host = value
        case "user-agent": userAgent = value
        case "sec-ch-ua-platform": platformHint = value
        case let lower where HTTPRequestHead.proxyHeaderNames.contains(lower):
            if !proxyHeaders.contains(lower) { proxyHeaders.append(lower) }
        default: break
        }
    }
}
