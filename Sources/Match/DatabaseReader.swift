import Features
import Foundation

/// Reads database files one after the other into one list of entries.
struct DatabaseReader {
    var entries: [DatabaseEntry] = []
    var links: [LinkEntry] = []
    /// Where each id was first seen, across all files.
    var ids: [String: (file: String, line: Int)] = [:]
    /// Observation files (`--learn`) may record one connection twice (a capture read again);
    /// their ids are replaced when they are merged, so they need not be unique.
    var requireUniqueIDs = true
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
            var reader = EntryReader(object: object, file: file, line: lineNumber, layouts: layouts)
            defer { layouts = reader.layouts }
            if !sawHeader {
                guard object["synprint_db"] != nil else {
                    throw DatabaseError(
                        file: file, line: lineNumber, field: nil,
                        message: "missing header line {\"synprint_db\": \(Database.schemaVersion)} before the first entry")
                }
                let version = try reader.int("synprint_db")
                guard version == Database.schemaVersion else {
                    throw DatabaseError(
                        file: file, line: lineNumber, field: "synprint_db",
                        message: "schema version \(version) is not supported (this synprint reads \(Database.schemaVersion))")
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
            if requireUniqueIDs, let first = ids[id] {
                let place = first.file == file ? "on line \(first.line)" : "at \(first.file):\(first.line)"
                throw DatabaseError(file: file, line: lineNumber, field: "id", message: "duplicate id \"\(id)\" (first \(place))")
            }
            ids[id] = (file, lineNumber)
        }
        guard sawHeader else {
            throw DatabaseError(
                file: file, line: 1, field: nil,
                message: "missing header line {\"synprint_db\": \(Database.schemaVersion)} (the file has no entries)")
        }
    }
}
