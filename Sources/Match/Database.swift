import Foundation
import Features

/// A loading problem, located: `file:line: field 'window': expected ...`.
public struct DatabaseError: Error, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let field: String?
    public let message: String

    public var description: String {
        if let field { return "\(file):\(line): field '\(field)': \(message)" }
        return "\(file):\(line): \(message)"
    }
}

/// The fingerprint database: JSON lines, one entry a line, so that diffs show one entry per
/// changed line and every error has a line number. `database/README.md` documents the schema.
public struct Database: Sendable {
    public static let schemaVersion = 1
    public let entries: [DatabaseEntry]
    /// Link types by MTU; lines with an `mtu` field.
    public let links: [LinkEntry]
    /// Each entry's text for output, escaped once at load instead of once per packet.
    public let display: [EntryDisplay]

    public init(entries: [DatabaseEntry], links: [LinkEntry] = []) {
        self.entries = entries
        self.links = links
        display = entries.map(EntryDisplay.init)
    }

    /// Loads and merges several files in order; ids must be unique across them.
    public static func load(files: [String]) throws -> Database {
        var reader = Reader()
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw DatabaseError(file: file, line: 0, field: nil, message: "cannot read the file")
            }
            try data.withUnsafeBytes { try reader.read($0, file: file) }
        }
        return Database(entries: reader.entries, links: reader.links)
    }

    public static func load(file: String) throws -> Database {
        try load(files: [file])
    }

    public static func parse(_ text: String, file: String) throws -> Database {
        var reader = Reader()
        var text = text
        try text.withUTF8 { try reader.read(UnsafeRawBufferPointer($0), file: file) }
        return Database(entries: reader.entries, links: reader.links)
    }

    /// Reads database files one after the other into one list of entries.
    struct Reader {
        var entries: [DatabaseEntry] = []
        var links: [LinkEntry] = []
        /// Where each id was first seen, across all files.
        var ids: [String: (file: String, line: Int)] = [:]
        /// Parsed layouts by their text: few distinct ones recur.
        var layouts: [String: (OptionLayout, Int)] = [:]
        let parser = JSONObject.Parser()

        /// Parses JSON lines as bytes: a line is cut at each newline with memchr and handed to
        /// json-c as is (no String per line, no UTF-8 pass over the whole file first).
        mutating func read(_ bytes: UnsafeRawBufferPointer, file: String) throws {
            var sawHeader = false
            var lineStart = 0
            var lineNumber = 0
            while lineStart < bytes.count {
                lineNumber += 1
                let base = bytes.baseAddress!
                var newline = bytes.count
                if let found = memchr(base + lineStart, 0x0A, bytes.count - lineStart) {
                    newline = UnsafeRawPointer(found) - base
                }
                let rawLine = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<newline])
                lineStart = newline + 1
                guard let first = rawLine.first(where: { !JSONObject.isJSONWhitespace($0) }), first != UInt8(ascii: "#") else { continue }
                let object: JSONObject
                do {
                    object = try parser.parse(rawLine)
                } catch let error as JSONObject.ParseError {
                    throw DatabaseError(file: file, line: lineNumber, field: nil, message: error.message)
                }
                var reader = FieldReader(object: object, file: file, line: lineNumber, layouts: layouts)
                defer { layouts = reader.layouts }
                if !sawHeader {
                    guard object["synprint_db"] != nil else {
                        throw DatabaseError(file: file, line: lineNumber, field: nil,
                                            message: "missing header line {\"synprint_db\": \(schemaVersion)} before the first entry")
                    }
                    let version = try reader.int("synprint_db")
                    guard version == schemaVersion else {
                        throw DatabaseError(file: file, line: lineNumber, field: "synprint_db",
                                            message: "schema version \(version) is not supported (this synprint reads \(schemaVersion))")
                    }
                    sawHeader = true
                    continue
                }
                let id: String
                if object["mtu"] != nil {
                    let link = try reader.link()
                    id = link.id
                    links.append(link)
                } else {
                    let entry = try reader.entry()
                    id = entry.id
                    entries.append(entry)
                }
                if let first = ids[id] {
                    let place = first.file == file ? "on line \(first.line)" : "at \(first.file):\(first.line)"
                    throw DatabaseError(file: file, line: lineNumber, field: "id", message: "duplicate id \"\(id)\" (first \(place))")
                }
                ids[id] = (file, lineNumber)
            }
            guard sawHeader else {
                throw DatabaseError(file: file, line: 1, field: nil, message: "missing header line {\"synprint_db\": \(schemaVersion)} (the file has no entries)")
            }
        }
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

/// An entry's label and id, ready to be copied into output lines.
public struct EntryDisplay: Sendable {
    public let label: String          // plain, for text output
    public let idJSON: String         // quoted and escaped JSON strings
    public let labelJSON: String
    public let nameJSON: String
    public let flavorJSON: String

    init(_ entry: DatabaseEntry) {
        func json(_ text: String) -> String {
            let buffer = TextBuffer(capacity: text.utf8.count + 8)
            buffer.appendJSONString(text)
            return buffer.string
        }
        label = entry.label
        idJSON = json(entry.id)
        labelJSON = json(entry.label)
        nameJSON = json(entry.name)
        flavorJSON = json(entry.flavor)
    }
}
