import Features
import Formatting

/// p0f's option layout syntax, shared by the database and the p0f importer.
public enum LayoutSyntax {
    public struct Error: Swift.Error { public let message: String }

    static let kinds: [String: UInt8] = ["nop": 1, "mss": 2, "ws": 3, "sok": 4, "sack": 5, "ts": 8]

    public static func parse(_ text: String) throws -> (OptionLayout, Int) {
        var layout = OptionLayout()
        var padding = 0
        for token in text.split(separator: ",").map({ String($0.filter { $0 != " " }) }) where !token.isEmpty {
            if let kind = kinds[token] {
                layout.append(kind)
            } else if token.hasPrefix("eol+"), let n = Int(token.dropFirst(4)), n >= 0 {
                layout.append(0)
                padding = n
            } else if token == "eol" {
                layout.append(0)
            } else if token.hasPrefix("?"), let kind = UInt8(token.dropFirst()) {
                layout.append(kind)
            } else {
                throw Error(message: "unknown option \"\(token)\" (expected mss, nop, ws, sok, sack, ts, eol+N or ?K)")
            }
            if layout.count == 40 { throw Error(message: "more than 40 options") }
        }
        return (layout, padding)
    }

    public static func text(_ layout: OptionLayout, eolPadding: Int) -> String {
        let buffer = TextBuffer(capacity: 64)
        OptionNames.write(layout, eolPadding: eolPadding, to: buffer)
        return buffer.string
    }
}
