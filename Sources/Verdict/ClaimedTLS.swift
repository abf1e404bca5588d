import Match

/// The TLS library a User-Agent implies: browsers bring their own, HTTP libraries their
/// language's or the system's (Schannel for Windows' own programs). On iOS every browser runs
/// Apple's WebKit and networking, whatever its name (CriOS, FxiOS, EdgiOS); a name this does not
/// know claims nothing.
public enum ClaimedTLS {
    /// The first rule whose words the User-Agent holds (lowercased) names the family.
    static let rules: [(words: Words, family: TLSFamily)] = [
        (Words(["crios/", "fxios/", "edgios/", "iphone", "ipad"]), .safari),
        (Words(["okhttp/"]), .okHttp),
        (Words(["go-http-client/"]), .go),
        (Words(["python-requests/", "python-urllib/", "python-httpx/", "aiohttp/", "urllib3/"]), .python),
        (Words(["node-fetch", "axios/", "undici", "node.js"]), .node),
        (Words(["java/", "apache-httpclient/"]), .java),
        (Words(["curl/"]), .openSSL),
        // Windows' own: Internet Explorer, EdgeHTML Edge ("Edge/", before the Chrome name its
        // User-Agent also carries), PowerShell 5 and the WinHTTP services.
        (
            Words(["trident/", "msie ", "edge/", "windowspowershell/", "windows-update-agent", "microsoft-delivery-optimization/"]),
            .schannel
        ),
        (Words(["firefox/"]), .firefox),
        (Words(["chrome/", "chromium/", "edg/", "opr/"]), .chromium),
        (Words(["version/"]), .safari),
    ]

    public static func family(userAgent: String?) -> TLSFamily? {
        guard let userAgent, !userAgent.isEmpty else { return nil }
        let ua = LowercasedText(userAgent.utf8.prefix(HTTPRequestHead.keptLength.userAgent))
        if UserAgentRules.botWords.any(in: ua) { return nil }
        // Safari's "Version/… Safari/…" only counts without a Chromium or Firefox name (rules above).
        if let rule = rules.first(where: { $0.words.any(in: ua) }) {
            return rule.family != .safari || ua.contains(safari) || ua.contains(iOSDevice) ? rule.family : nil
        }
        return nil
    }

    static let safari = Array("safari/".utf8), iOSDevice = Array("iphone".utf8)
}
