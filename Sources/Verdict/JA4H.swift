import Crypto
import FlowStats

/// FoxIO's JA4H fingerprint of an HTTP request (the JA4+ specification): `a_b_c_d`, where `a` is
/// the method's first two letters, the HTTP version, `c`/`n` for a Cookie, `r`/`n` for a Referer,
/// the count of the other headers (two digits) and the first four letters of Accept-Language
/// (`0000` without one); `b` the first 12 hex digits of SHA-256 over the other headers' names in
/// order, comma-separated; `c` and `d` the same over the sorted cookie names and sorted
/// `name=value` cookies (`000000000000` without cookies). JA4H is under FoxIO's licence;
/// computing the string is what the format is for.
public struct JA4HBuilder {
    var method = ""
    var version = "11"
    /// SHA-256 over the header names so far, comma-separated: fed as the headers are read,
    /// with no String per name (perf: building and joining them was a tenth of `--http`).
    private var names = SHA256()
    private var count = 0
    var cookies: [(name: String, value: String)] = []
    var referer = false
    var language = ""

    /// Headers counted per request at most (a client cannot make the list long).
    static let maximumHeaders = 99

    public init(method: String, version: String) {
        self.method = method
        self.version = version
    }

    /// One header, its name and value as they appear in the request.
    public mutating func add(header name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        add(header: name, known: KnownHeader(name), value: value)
    }

    /// `add` for a header the parser has already named.
    mutating func add(header name: UnsafeRawBufferPointer, known: KnownHeader?, value: UnsafeRawBufferPointer) {
        switch known {
        case .cookie?:
            for pair in String(decoding: value, as: UTF8.self).split(separator: ";").prefix(64) {
                let parts = pair.split(separator: "=", maxSplits: 1)
                let name = parts.first.map { $0.trimmingSpaces } ?? ""
                cookies.append((name, parts.count > 1 ? parts[1].trimmingSpaces : ""))
            }
            return
        case .referer?:
            referer = true
            return
        case .acceptLanguage?: language = String(decoding: value, as: UTF8.self)
        default: break
        }
        guard count < JA4HBuilder.maximumHeaders else { return }
        if count > 0 { names.update(data: JA4HBuilder.comma) }
        names.update(bufferPointer: name)
        count += 1
    }

    public var fingerprint: String {
        let verb = String(method.lowercased().prefix(2))
        let lang = String(language.lowercased().unicodeScalars.filter { $0.properties.isAlphabetic || ("0"..."9").contains($0) }.prefix(4))
        let a =
            verb + version + (cookies.isEmpty ? "n" : "c") + (referer ? "r" : "n")
            + (count < 10 ? "0" : "") + String(count)
            + (lang.isEmpty ? "0000" : lang.padding(toLength: 4, withPad: "0", startingAt: 0))
        let sorted = cookies.sorted { $0.name != $1.name ? $0.name < $1.name : $0.value < $1.value }
        let c = cookies.isEmpty ? JA4HBuilder.empty : JA4HBuilder.hash(sorted.map(\.name).joined(separator: ","))
        let d = cookies.isEmpty ? JA4HBuilder.empty : JA4HBuilder.hash(sorted.map { "\($0.name)=\($0.value)" }.joined(separator: ","))
        return "\(a)_\(ClientHello.truncatedHex(names.finalize()))_\(c)_\(d)"
    }

    static let empty = "000000000000"
    private static let comma: [UInt8] = [UInt8(ascii: ",")]

    static func hash(_ text: String) -> String { ClientHello.truncatedHex(SHA256.hash(data: Array(text.utf8))) }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
