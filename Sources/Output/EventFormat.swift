/// How events are written: a text block a person reads, one JSON object a line, or p0f's
/// `key=value|…` log lines for tools that parse p0f logs.
public enum EventFormat: String, Sendable, CaseIterable {
    case text
    case json
    case p0f
}
