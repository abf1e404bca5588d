import Crypto

/// FoxIO's JA4H fingerprint of an HTTP request (the JA4+ specification): `a_b_c_d`, where `a` is
/// the method's first two letters, the HTTP version, `c`/`n` for a Cookie, `r`/`n` for a Referer,
/// the count of the other headers (two digits) and the first four letters of Accept-Language
/// (`0000` without one); `b` the first 12 hex digits of SHA-256 over the other headers' names in
/// order, comma-separated; `c` and `d` the same over the sorted cookie names and sorted
/// `name=value` cookies (`000000000000` without cookies). JA4H is under FoxIO's licence;
/// computing the string is what the format is for.
public struct JA4HBuilder: Sendable {
    var method = ""
    var version = "11"
    var names: [String] = []
    var cookies: [(name: String, value: String)] = []
    var referer = false
    var language = ""

    /// Headers counted per request at most (a client cannot make the list long).
    static let maximumHeaders = 99

    public init(method: String, version: String) {
        self.method = method
        self.version = version
    }

    public mutating func add(header name: String, value: String) {
        switch name.lowercased() {
        case "cookie":
            for pair in value.split(separator: ";").prefix(64) {
                let parts = pair.split(separator: "=", maxSplits: 1)
                let name = parts.first.map { $0.trimmingSpaces } ?? ""
                cookies.append((name, parts.count > 1 ? parts[1].trimmingSpaces : ""))
            }
            return
        case "referer":
            referer = true
            return
        case "accept-language": language = value
        default: break
        }
        if names.count < JA4HBuilder.maximumHeaders { names.append(name) }
    }

    public var fingerprint: String {
        let verb = String(method.lowercased().prefix(2))
        let lang = String(language.lowercased().unicodeScalars.filter { $0.properties.isAlphabetic || ("0"..."9").contains($0) }.prefix(4))
        let a =
            verb + version + (cookies.isEmpty ? "n" : "c") + (referer ? "r" : "n")
            + (names.count < 10 ? "0" : "") + String(names.count)
            + (lang.isEmpty ? "0000" : lang.padding(toLength: 4, withPad: "0", startingAt: 0))
        let sorted = cookies.sorted { $0.name != $1.name ? $0.name < $1.name : $0.value < $1.value }
        let c = cookies.isEmpty ? JA4HBuilder.empty : JA4HBuilder.hash(sorted.map(\.name).joined(separator: ","))
        let d = cookies.isEmpty ? JA4HBuilder.empty : JA4HBuilder.hash(sorted.map { "\($0.name)=\($0.value)" }.joined(separator: ","))
        return "\(a)_\(JA4HBuilder.hash(names.joined(separator: ",")))_\(c)_\(d)"
    }

    static let empty = "000000000000"

    static func hash(_ text: String) -> String {
        let digest = SHA256.hash(data: Array(text.utf8))
        return digest.prefix(6).map { byte in String(byte >> 4, radix: 16) + String(byte & 0xF, radix: 16) }.joined()
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
