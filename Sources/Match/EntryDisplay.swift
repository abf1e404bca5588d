import Formatting

/// An entry's label and id, ready to be copied into output lines.
public struct EntryDisplay: Sendable {
    public let label: String  // plain, for text output
    public let idJSON: String  // quoted and escaped JSON strings
    public let labelJSON: String
    public let nameJSON: String
    public let flavorJSON: String

    /// `text` as a quoted, escaped JSON string.
    static func json(_ text: String) -> String {
        let buffer = TextBuffer(capacity: text.utf8.count + 8)
        buffer.appendJSONString(text)
        return buffer.string
    }

    init(_ entry: DatabaseEntry) {
        let json = EntryDisplay.json
        label = entry.label
        idJSON = json(entry.id)
        labelJSON = json(entry.label)
        nameJSON = json(entry.name)
        flavorJSON = json(entry.flavor)
    }
}
