import Fleet
import Formatting
import Foundation
import Output
import XCTest

/// Reads RowBinary rows back by the schema's column types, as JSON-like text lines with the
/// column names: for goldens a person can read, and to prove each row has exactly its table's
/// columns (a missing or extra value shifts every later one and runs off the end).
struct RowBinaryDecoder {
    struct Truncated: Error, CustomStringConvertible {
        let column: String
        var description: String { "the rows end inside column \(column)" }
    }

    private let bytes: [UInt8]
    private var at = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { at == bytes.count }

    /// The next row of `table`, as `{"column":value,…}`.
    mutating func row(_ table: StoreTable) throws -> String {
        var fields: [String] = []
        for column in StoreSchema.columns(table) {
            fields.append("\"\(column.name)\":" + (try value(column.type, column: column.name)))
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// Every row of `table` in the buffer, one line each.
    static func lines(_ bytes: [UInt8], table: StoreTable) throws -> [String] {
        var decoder = RowBinaryDecoder(bytes)
        var lines: [String] = []
        while !decoder.atEnd { lines.append(try decoder.row(table)) }
        return lines
    }

    private mutating func take(_ count: Int, column: String) throws -> ArraySlice<UInt8> {
        guard count >= 0, at + count <= bytes.count else { throw Truncated(column: column) }
        defer { at += count }
        return bytes[at..<at + count]
    }

    private mutating func integer(_ size: Int, column: String) throws -> UInt64 {
        try take(size, column: column).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    private mutating func varUInt(column: String) throws -> Int {
        var value = 0, shift = 0
        while true {
            let byte = try take(1, column: column).first!
            value |= Int(byte & 0x7f) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
    }

    private mutating func value(_ type: String, column: String) throws -> String {
        if type.hasPrefix("Nullable(") {
            let inner = String(type.dropFirst(9).dropLast())
            return try integer(1, column: column) == 1 ? "null" : try value(inner, column: column)
        }
        if type.hasPrefix("Array(") {
            let inner = String(type.dropFirst(6).dropLast())
            let count = try varUInt(column: column)
            return "[" + (try (0..<count).map { _ in try value(inner, column: column) }).joined(separator: ",") + "]"
        }
        switch type {
        case "String":
            let text = String(decoding: try take(try varUInt(column: column), column: column), as: UTF8.self)
            let data = try JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])
            return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
        case "UInt8": return String(try integer(1, column: column))
        case "UInt16": return String(try integer(2, column: column))
        case "UInt32", "DateTime": return String(try integer(4, column: column))
        case "UInt64": return String(try integer(8, column: column))
        case "Int16": return String(Int16(truncatingIfNeeded: try integer(2, column: column)))
        case "Float32": return String(format: "%.3f", Float(bitPattern: UInt32(try integer(4, column: column))))
        case "Float64": return String(format: "%.3f", Double(bitPattern: try integer(8, column: column)))
        default: throw Truncated(column: "\(column) of unknown type \(type)")
        }
    }
}

/// A run's events as store rows, one event at a time in the order the goldens keep (SYNs and
/// SYN+ACKs, requests, connections, windows, ClientHellos): `each` gets the row's table, a buffer holding just
/// that row, and its sequence (`first` plus the event's position). Returns the next sequence.
@discardableResult
func writeStoreRows(
    _ events: EventCollector, with rows: StoreRows, from first: UInt64 = 0, each: (StoreTable, TextBuffer, UInt64) throws -> Void
) rethrows -> UInt64 {
    let out = TextBuffer(capacity: 4096)
    var sequence = first
    func next(_ write: (TextBuffer) -> StoreTable) throws {
        rows.identify(sequence, to: out)
        try each(write(out), out, sequence)
        out.removeAll()
        sequence += 1
    }
    for syn in events.handshakes { try next { rows.write(syn, to: $0) } }
    for request in events.requests {
        try next {
            rows.write(request, to: $0)
            return .http
        }
    }
    for connection in events.connections {
        try next {
            rows.write(connection, to: $0)
            return .conn
        }
    }
    for window in events.flowWindows {
        try next {
            rows.write(window, to: $0)
            return .flowstats
        }
    }
    for hello in events.hellos {
        try next {
            rows.write(hello, to: $0)
            return .tls
        }
    }
    return sequence
}
