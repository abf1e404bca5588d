import Match

/// The OS a User-Agent (or the `Sec-CH-UA-Platform` client hint) claims. The class is nil when
/// only the family is named (a `Darwin/…` UA may be macOS or iOS).
public struct ClaimedOS: Sendable, Equatable {
    public var osClass: OSClass?
    public var family: OSFamily

    public init(_ osClass: OSClass) {
        self.osClass = osClass
        family = osClass.family
    }

    public init(family: OSFamily) {
        osClass = nil
        self.family = family
    }
}

/// User-Agent → OS rules, tried in order; the first that matches decides (README, "User-Agent
/// rules"). Order matters: Android and ChromeOS UAs also say "Linux", iOS UAs say "Mac OS X",
/// and a BSD desktop says "X11".
public enum UserAgentRules {
    /// Words of crawlers and bots: their UA often copies a browser's, OS included, so it says
    /// nothing about the stack that connects.
    static let botWords = ["bot", "crawler", "spider", "slurp", "crawl", "headless", "lighthouse"]

    static let rules: [(words: [String], os: ClaimedOS)] = [
        (["windows phone"], ClaimedOS(.windows)),
        (["android", "dalvik"], ClaimedOS(.android)),
        (["cros "], ClaimedOS(.chromeOS)),
        (["iphone", "ipad", "ipod", "ios ", "ios/", "cpu os ", "watchos", "tvos"], ClaimedOS(.iOS)),
        (["macintosh", "mac os x", "mac_powerpc", "macos", "darwin/"], ClaimedOS(.macOS)),
        (["windows", "win64", "wow64", "win32", "msie ", "microsoft ncsi", "microsoft-cryptoapi",
          "winhttp", "microsoft-delivery-optimization", "windows-update-agent"], ClaimedOS(.windows)),
        (["freebsd"], ClaimedOS(.freeBSD)),
        (["openbsd"], ClaimedOS(.openBSD)),
        (["netbsd"], ClaimedOS(.netBSD)),
        (["dragonfly"], ClaimedOS(family: .bsd)),
        (["sunos", "solaris", "illumos"], ClaimedOS(.solaris)),
        (["linux", "x11", "ubuntu", "debian", "fedora", "centos", "red hat", "suse", "gentoo",
          "tizen", "webos", "kaios"], ClaimedOS(.linux)),
    ]

    /// The OS the request claims; the client hint wins over the UA string. Nil for bots and
    /// tools that name no OS.
    public static func claimedOS(userAgent: String?, platformHint: String? = nil) -> ClaimedOS? {
        if let platformHint, let os = platform(platformHint) { return os }
        guard let userAgent, !userAgent.isEmpty else { return nil }
        let ua = userAgent.lowercased()
        if isBot(lowercased: ua) { return nil }
        // CFNetwork apps say only "Darwin/…": macOS if the architecture is an x86 one, else iOS
        // is as likely, so only the family is claimed.
        if ua.contains("darwin/"), !ua.contains("x86_64"), !ua.contains("macintosh") {
            return ClaimedOS(family: .apple)
        }
        return rules.first { rule in rule.words.contains { ua.contains($0) } }?.os
    }

    /// Crawlers and bots, whose User-Agent says nothing about the stack that connects.
    public static func isBot(_ userAgent: String) -> Bool {
        isBot(lowercased: userAgent.lowercased())
    }

    static func isBot(lowercased ua: String) -> Bool {
        botWords.contains { ua.contains($0) }
    }

    /// `Sec-CH-UA-Platform` values (RFC 8941 strings, quoted): "Windows", "macOS", "Linux",
    /// "Android", "Chrome OS", "iOS"; "Unknown" and anything else claim nothing.
    static func platform(_ value: String) -> ClaimedOS? {
        let name = value.trimmingQuotes().lowercased()
        switch name {
        case "windows": return ClaimedOS(.windows)
        case "macos": return ClaimedOS(.macOS)
        case "ios": return ClaimedOS(.iOS)
        case "android": return ClaimedOS(.android)
        case "chrome os", "chromeos", "chromium os": return ClaimedOS(.chromeOS)
        case "linux": return ClaimedOS(.linux)
        case "freebsd": return ClaimedOS(.freeBSD)
        default: return nil
        }
    }
}

extension String {
    func trimmingQuotes() -> String {
        var s = Substring(self)
        while let first = s.first, first == " " || first == "\"" { s = s.dropFirst() }
        while let last = s.last, last == " " || last == "\"" { s = s.dropLast() }
        return String(s)
    }
}
