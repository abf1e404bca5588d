import Features
import Foundation

/// The fingerprint database: JSON lines, one entry a line, so that diffs show one entry per
/// changed line and every error has a line number. `database/README.md` documents the schema.
public struct Database: Sendable {
    public static let schemaVersion = 1
    public let entries: [DatabaseEntry]
    /// Link types by MTU; lines with an `mtu` field.
    public let links: [LinkEntry]
    /// Each entry's text for output, escaped once at load instead of once per packet.
    public let display: [EntryDisplay]
    /// Each link's name as a quoted JSON string, likewise.
    public let linkNamesJSON: [String]

    public init(entries: [DatabaseEntry], links: [LinkEntry] = []) {
        self.entries = entries
        self.links = links
        display = entries.map(EntryDisplay.init)
        linkNamesJSON = links.map { EntryDisplay.json($0.link) }
    }

    /// Loads and merges several files in order; ids must be unique across them, except in
    /// observation files recorded by `--learn`.
    public static func load(files: [String], observations: Bool = false) throws -> Database {
        var reader = DatabaseReader()
        reader.requireUniqueIDs = !observations
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                let reason = access(file, R_OK) == 0 ? "" : ": " + String(cString: strerror(errno))
                throw DatabaseError(file: file, line: 0, field: nil, message: "cannot read the file" + reason)
            }
            try data.withUnsafeBytes { try reader.read($0, file: file) }
        }
        return Database(entries: reader.entries, links: reader.links)
    }

    public static func load(file: String) throws -> Database {
        try load(files: [file])
    }

    public static func parse(_ text: String, file: String) throws -> Database {
        var reader = DatabaseReader()
        var text = text
        try text.withUTF8 { try reader.read(UnsafeRawBufferPointer($0), file: file) }
        return Database(entries: reader.entries, links: reader.links)
    }

    /// The file text: header, then one line per entry with keys in a fixed order.
    public func serialized(comment: String? = nil) -> String {
        var out = ""
        if let comment { out += comment.split(separator: "\n").map { "# \($0)\n" }.joined() }
        out += "{\"synprint_db\": \(Database.schemaVersion)}\n"
        for entry in entries { out += EntryWriter.line(entry) + "\n" }
        for link in links { out += EntryWriter.line(link) + "\n" }
        return out
    }
}
