import Features
import Formatting

/// Writes an entry as one JSON line, keys in a fixed order so files diff cleanly.
public enum EntryWriter {
    public static func line(_ e: DatabaseEntry) -> String {
        var fields: [(String, String)] = [
            ("id", quoted(e.id)),
            ("packet", quoted(e.direction == .syn ? "syn" : "synack")),
            ("class", quoted(e.osClass.name)),
            ("name", quoted(e.name)),
            ("flavor", quoted(e.flavor)),
        ]
        if e.generic { fields.append(("generic", "true")) }
        fields += constraintFields(e)
        fields.append(("provenance", quoted(e.provenance.rawValue)))
        if !e.source.isEmpty { fields.append(("source", quoted(e.source))) }
        if !e.counts.isEmpty {
            let parts = e.counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\(quoted($0.key.name)): \($0.value)" }
            fields.append(("counts", "{" + parts.joined(separator: ", ") + "}"))
        }
        if let first = e.firstSeen { fields.append(("first_seen", quoted(first))) }
        if let last = e.lastSeen { fields.append(("last_seen", quoted(last))) }
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }

    /// What the entry matches, as text: equal for two entries exactly when they describe the
    /// same packets (merging and diffing key on it).
    public static func constraints(_ e: DatabaseEntry) -> String {
        ([("packet", e.direction == .syn ? "syn" : "synack")] + constraintFields(e)).map { "\($0.0)=\($0.1)" }.joined(separator: " ")
    }

    static func constraintFields(_ e: DatabaseEntry) -> [(String, String)] {
        var fields: [(String, String)] = []
        fields.append(("ip", rule(e.ipVersion)))
        fields.append(("ttl", rule(e.initialTTL)))
        fields.append(("df", rule(e.dontFragment)))
        switch e.ipID {
        case .any: fields.append(("ip_id", "\"*\""))
        case .zero: fields.append(("ip_id", "\"zero\""))
        case .nonZero: fields.append(("ip_id", "\"nonzero\""))
        case .value(let v): fields.append(("ip_id", String(v)))
        }
        fields.append(("ecn", rule(e.ecn)))
        if e.flowLabel != .any { fields.append(("flow", rule(e.flowLabel))) }
        fields.append(
            (
                "window",
                list(e.windows) { rule in
                    if case .value(let n) = rule { return String(n) }
                    return quoted(rule.text)
                }
            ))
        fields.append(("scale", list(e.scales) { $0.lower == $0.upper ? String($0.lower) : quoted($0.text) }))
        fields.append(("mss", rule(e.mss)))
        fields.append(("layout", list(e.layouts) { quoted(LayoutSyntax.text($0.layout, eolPadding: $0.eolPadding)) }))
        switch e.quirks {
        case .any: fields.append(("quirks", "\"*\""))
        case .exactly(let q):
            let buffer = TextBuffer(capacity: 32)
            q.write(to: buffer)
            fields.append(("quirks", quoted(buffer.string)))
        }
        return fields
    }

    /// `"*"`, one value, or a JSON array of values.
    static func list<Value>(_ choices: Choices<Value>, _ text: (Value) -> String) -> String {
        switch choices.values.count {
        case 0: return "\"*\""
        case 1: return text(choices.values[0])
        default: return "[" + choices.values.map(text).joined(separator: ", ") + "]"
        }
    }

    public static func line(_ link: LinkEntry) -> String {
        var fields = [
            ("id", quoted(link.id)), ("mtu", String(link.mtu)), ("link", quoted(link.link)),
            ("tunnel", String(link.tunnel)), ("provenance", quoted(link.provenance.rawValue)),
        ]
        if !link.source.isEmpty { fields.append(("source", quoted(link.source))) }
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }

    static func quoted(_ text: String) -> String {
        let buffer = TextBuffer(capacity: text.utf8.count + 2)
        buffer.appendJSONString(text)
        return buffer.string
    }

    static func rule<T: BinaryInteger & Sendable>(_ rule: Rule<T>) -> String {
        if case .exactly(let v) = rule { return String(v) }
        return "\"*\""
    }

    static func rule(_ rule: Rule<Bool>) -> String {
        if case .exactly(let v) = rule { return v ? "true" : "false" }
        return "\"*\""
    }
}
