import Decode
import Foundation
import Match
import SwiftCSV
import Verdict

/// One labelled client from a labels file.
public struct LabelRow: Sendable {
    public var ip: IPAddress
    public var port: UInt16?
    public var seconds: Int?
    public var label: ClaimedOS?  // from `os_class`, else from `user_agent`
    public var userAgent: String?
    public var line: Int
}

/// Labels exported from elsewhere (a web server log, an inventory): CSV with a header row, or
/// JSON lines. Columns: `ip` (or `src_ip`), optional `port` (or `src_port`), optional `time`
/// (or `ts`: Unix seconds or RFC 3339), and `os_class` or `user_agent`. Bad rows are reported
/// with their line number and skipped.
public struct LabelsFile: Sendable {
    public private(set) var rows: [IPAddress: [LabelRow]] = [:]
    public private(set) var problems: [(line: Int, message: String)] = []
    public private(set) var count = 0

    public init() {}

    public static func load(path: String) throws -> LabelsFile {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw LabelsError("cannot read the labels file \(path)")
        }
        let isJSON =
            path.hasSuffix(".jsonl") || path.hasSuffix(".json")
            || (!path.hasSuffix(".csv") && text.first { !$0.isWhitespace } == "{")
        return isJSON ? parseJSONLines(text) : try parseCSV(text, file: path)
    }

    /// One JSON object per line (read with the database's JSON reader); strings and numbers.
    public static func parseJSONLines(_ text: String) -> LabelsFile {
        var file = LabelsFile()
        let parser = JSONObject.Parser()
        for (index, line) in text.lines.enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            var bytes = Array(trimmed.utf8)
            guard let object = try? bytes.withUnsafeBytes({ try parser.parse($0) }) else {
                file.problems.append((index + 1, "not a JSON object"))
                continue
            }
            var fields: [String: String] = [:]
            for (name, value) in object.value.members {
                fields[name] = value.string ?? value.numberText
            }
            file.add(fields, line: index + 1)
            bytes.removeAll()
        }
        return file
    }

    public static func parseCSV(_ text: String, file path: String) throws -> LabelsFile {
        let csv: CSV<Named>
        do {
            csv = try CSV<Named>(string: text, delimiter: .comma, loadColumns: false)
        } catch {
            throw LabelsError("\(path): not readable as CSV: \(error)")
        }
        var file = LabelsFile()
        for (index, row) in csv.rows.enumerated() {
            file.add(row, line: index + 2)  // line 1 is the header
        }
        return file
    }

    mutating func add(_ fields: [String: String], line: Int) {
        func field(_ names: String...) -> String? {
            for name in names { if let value = fields[name], !value.isEmpty { return value } }
            return nil
        }
        guard let ipText = field("ip", "src_ip") else { return problems.append((line, "no ip")) }
        guard let ip = IPAddress(ipText) else { return problems.append((line, "ip \(ipText.debugDescription) is not an address")) }
        var row = LabelRow(ip: ip, port: nil, seconds: nil, label: nil, userAgent: field("user_agent"), line: line)
        if let portText = field("port", "src_port") {
            guard let port = UInt16(portText) else { return problems.append((line, "port \(portText.debugDescription) is not 0-65535")) }
            row.port = port
        }
        if let timeText = field("time", "ts") {
            guard let seconds = LabelsFile.seconds(timeText) else {
                return problems.append((line, "time \(timeText.debugDescription) is not Unix seconds or RFC 3339 between 1970 and 9999"))
            }
            row.seconds = seconds
        }
        if let className = field("os_class") {
            guard let osClass = OSClass(name: className), osClass != .unknown else {
                return problems.append((line, "unknown os_class \(className.debugDescription)"))
            }
            row.label = ClaimedOS(osClass)
        } else if let userAgent = row.userAgent {
            row.label = UserAgentRules.claimedOS(userAgent: userAgent)
        } else {
            return problems.append((line, "neither os_class nor user_agent"))
        }
        rows[ip, default: []].append(row)
        count += 1
    }

    /// Times from the Unix epoch to the end of year 9999: what a capture can hold.
    static let timeRange = 0.0...Double(Packet.latest)

    /// Unix seconds or RFC 3339 (with or without fractional seconds); nil when neither, or
    /// when the time is not finite or outside `timeRange`.
    static func seconds(_ text: String) -> Int? {
        if let value = Double(text) {
            return value.isFinite && timeRange.contains(value) ? Int(value) : nil
        }
        let styles = [Date.ISO8601FormatStyle(includingFractionalSeconds: true), Date.ISO8601FormatStyle()]
        guard let date = styles.lazy.compactMap({ try? Date(text, strategy: $0) }).first else { return nil }
        let value = date.timeIntervalSince1970
        return value.isFinite && timeRange.contains(value) ? Int(value) : nil
    }

    /// The row for a SYN: one for its exact port first, else one for the address alone; a row
    /// with a time must lie within `window` seconds of the SYN.
    public func row(for ip: IPAddress, port: UInt16, seconds: Int, window: Int) -> LabelRow? {
        guard let candidates = rows[ip] else { return nil }
        func inTime(_ row: LabelRow) -> Bool { row.seconds.map { abs($0 - seconds) <= window } ?? true }
        return candidates.first { $0.port == port && inTime($0) } ?? candidates.first { $0.port == nil && inTime($0) }
    }
}

public struct LabelsError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
