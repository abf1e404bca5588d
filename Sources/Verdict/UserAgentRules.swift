import Match

/// User-Agent → OS rules, tried in order; the first that matches decides (README, "User-Agent
/// rules"). Order matters: Android and ChromeOS UAs also say "Linux", iOS UAs say "Mac OS X",
/// and a BSD desktop says "X11".
public enum UserAgentRules {
    /// Words of crawlers and bots: their UA often copies a browser's, OS included, so it says
    /// nothing about the stack that connects.
    static let botWords = Words(["bot", "crawler", "spider", "slurp", "crawl", "headless", "lighthouse"])

    static let rules: [(words: Words, os: ClaimedOS)] = [
        (Words(["windows phone"]), ClaimedOS(.windows)),
        // Android's connectivity check (AOSP NetworkMonitor, Android 8 on) probes every new network
        // under this desktop Chrome beta's name; no released desktop Chrome carried the version.
        (Words([captivePortalProbe]), ClaimedOS(.android)),
        (Words(["android", "dalvik"]), ClaimedOS(.android)),
        (Words(["cros "]), ClaimedOS(.chromeOS)),
        (Words(["iphone", "ipad", "ipod", "ios ", "ios/", "cpu os ", "watchos", "tvos"]), ClaimedOS(.iOS)),
        (Words(["macintosh", "mac os x", "mac_powerpc", "macos", "darwin/"]), ClaimedOS(.macOS)),
        (
            Words([
                "windows", "win64", "wow64", "win32", "msie ", "microsoft ncsi", "microsoft-cryptoapi",
                "winhttp", "microsoft-delivery-optimization", "windows-update-agent",
            ]), ClaimedOS(.windows)
        ),
        (Words(["freebsd"]), ClaimedOS(.freeBSD)),
        (Words(["openbsd"]), ClaimedOS(.openBSD)),
        (Words(["netbsd"]), ClaimedOS(.netBSD)),
        (Words(["dragonfly"]), ClaimedOS(family: .bsd)),
        (Words(["sunos", "solaris", "illumos"]), ClaimedOS(.solaris)),
        (
            Words([
                "linux", "x11", "ubuntu", "debian", "fedora", "centos", "red hat", "suse", "gentoo",
                "tizen", "webos", "kaios",
            ]), ClaimedOS(.linux)
        ),
    ]

    /// The OS the request claims; the client hint wins over the UA string. Nil for bots and
    /// tools that name no OS. Only the first `HTTPRequestHead.keptLength.userAgent` bytes are
    /// read: real User-Agents name their OS early, and a longer one costs no more to judge.
    public static func claimedOS(userAgent: String?, platformHint: String? = nil) -> ClaimedOS? {
        if let platformHint, let os = platform(String(platformHint.utf8.prefix(HTTPRequestHead.keptLength.platformHint)) ?? "") {
            return os
        }
        guard let userAgent, !userAgent.isEmpty else { return nil }
        let ua = LowercasedText(userAgent.utf8.prefix(HTTPRequestHead.keptLength.userAgent))
        if botWords.any(in: ua) { return nil }
        // CFNetwork apps say only "Darwin/…": macOS if the architecture is an x86 one, else iOS
        // is as likely, so only the family is claimed.
        if ua.contains(darwin), !ua.contains(x86), !ua.contains(macintosh) {
            return ClaimedOS(family: .apple)
        }
        return rules.first { $0.words.any(in: ua) }?.os
    }

    static let captivePortalProbe = "(x11; linux x86_64) applewebkit/537.36 (khtml, like gecko) chrome/60.0.3112.32 safari/537.36"

    static let darwin = Array("darwin/".utf8), x86 = Array("x86_64".utf8), macintosh = Array("macintosh".utf8)

    /// Crawlers and bots, whose User-Agent says nothing about the stack that connects.
    public static func isBot(_ userAgent: String) -> Bool {
        botWords.any(in: LowercasedText(userAgent.utf8.prefix(HTTPRequestHead.keptLength.userAgent)))
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

/// A User-Agent as lowercased ASCII bytes. Rules search it with plain byte comparison:
/// Foundation's `String.contains` took half of the time of `--http` runs (perf).
struct LowercasedText {
    let bytes: [UInt8]

    init(_ text: some Sequence<UInt8>) {
        bytes = text.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
    }

    func contains(_ word: [UInt8]) -> Bool {
        guard word.count <= bytes.count, let first = word.first else { return word.isEmpty }
        var i = 0
        let last = bytes.count - word.count
        while i <= last {
            if bytes[i] == first {
                var j = 1
                while j < word.count, bytes[i + j] == word[j] { j += 1 }
                if j == word.count { return true }
            }
            i += 1
        }
        return false
    }
}

/// Lowercase words a rule looks for, as bytes.
struct Words: Sendable {
    let list: [[UInt8]]

    init(_ words: [String]) {
        list = words.map { Array($0.utf8) }
    }

    func any(in text: LowercasedText) -> Bool {
        list.contains { text.contains($0) }
    }
}
