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
    public var label: ClaimedOS?        // from `os_class`, else from `user_agent`
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
        let isJSON = path.hasSuffix(".jsonl") || path.hasSuffix(".json")
            || (!path.hasSuffix(".csv") && text.first { !$0.isWhitespace } == "{")
        return isJSON ? parseJSONLines(text) : try parseCSV(text, file: path)
    }

    public static func parseJSONLines(_ text: String) -> LabelsFile {
        var file = LabelsFile()
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))) as? [String: Any] else {
                file.problems.append((index + 1, "not a JSON object"))
                continue
            }
            file.add(object.mapValues { value -> String in
                if let number = value as? NSNumber { return number.stringValue }
                return value as? String ?? ""
            }, line: index + 1)
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
            file.add(row, line: index + 2)      // line 1 is the header
        }
        return file
    }

    mutating func add(_ fields: [String: String], line: Int) {
        func field(_ names: String...) -> String? {
            for name in names { if let value = fields[name], !value.isEmpty { return value } }
            return nil
        }
        guard let ipText = field("ip", "src_ip") else { return problems.append((line, "no ip")) }
        guard let ip = IPAddress(ipText) else { return problems.append((line, "ip \"\(ipText)\" is not an address")) }
        var row = LabelRow(ip: ip, port: nil, seconds: nil, label: nil, userAgent: field("user_agent"), line: line)
        if let portText = field("port", "src_port") {
            guard let port = UInt16(portText) else { return problems.append((line, "port \"\(portText)\" is not 0-65535")) }
            row.port = port
        }
        if let timeText = field("time", "ts") {
            guard let seconds = LabelsFile.seconds(timeText) else {
                return problems.append((line, "time \"\(timeText)\" is neither Unix seconds nor RFC 3339"))
            }
            row.seconds = seconds
        }
        if let className = field("os_class") {
            guard let osClass = OSClass(name: className), osClass != .unknown else {
                return problems.append((line, "unknown os_class \"\(className)\""))
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

    /// RFC 3339 with and without fractional seconds; made once, since a formatter is costly to build.
    static let timeFormats: [ISO8601DateFormatter] = ([[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]]
        as [ISO8601DateFormatter.Options]).map { options in
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            return formatter
        }

    static func seconds(_ text: String) -> Int? {
        if let value = Double(text) { return Int(value) }
        return timeFormats.lazy.compactMap { $0.date(from: text) }.first.map { Int($0.timeIntervalSince1970) }
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
