import Features
import Foundation

/// Converts p0f v3 signatures (`p0f.fp`) into database entries, so p0f users keep their own.
/// `[tcp:request]` becomes SYN entries, `[tcp:response]` SYN+ACK entries, `[mtu]` link entries;
/// `[http:*]` sections are counted as skipped: synprint reads User-Agents, not HTTP signatures.
public enum P0fImport {
    public struct Result {
        public var database: Database
        public var skippedLines: Int
    }

    public static func convert(_ text: String, file: String) throws -> Result {
        var entries: [DatabaseEntry] = []
        var links: [LinkEntry] = []
        var linkName: String?
        var section = ""
        var label: (osClass: OSClass, name: String, flavor: String, generic: Bool)?
        var skipped = 0
        for (index, rawLine) in text.lines.enumerated() {
            let lineNumber = index + 1
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                section = line
                label = nil
                linkName = nil
                continue
            }
            if section == "[mtu]" {
                let (key, value) = try keyValue(line, file: file, line: lineNumber)
                switch key {
                case "label":
                    guard EntryReader.showable(value) else {
                        throw DatabaseError(file: file, line: lineNumber, field: "label", message: EntryReader.unshowable)
                    }
                    linkName = value
                case "sig":
                    guard let linkName else {
                        throw DatabaseError(file: file, line: lineNumber, field: "sig", message: "MTU before any label")
                    }
                    guard let mtu = Int(value), (68...65535).contains(mtu) else {
                        throw DatabaseError(file: file, line: lineNumber, field: "sig", message: "expected an MTU, found \"\(value)\"")
                    }
                    links.append(
                        LinkEntry(
                            id: "p0f-mtu-\(lineNumber)", mtu: mtu, link: linkName,
                            tunnel: P0fImport.namesTunnel(linkName), provenance: .imported,
                            source: "p0f.fp line \(lineNumber)", line: lineNumber))
                default:
                    skipped += 1
                }
                continue
            }
            let direction: Direction
            switch section {
            case "[tcp:request]": direction = .syn
            case "[tcp:response]": direction = .synAck
            default:
                skipped += 1
                continue
            }
            let (key, value) = try keyValue(line, file: file, line: lineNumber)
            switch key {
            case "label":
                label = try parseLabel(value, file: file, line: lineNumber)
            case "sig":
                guard let label else {
                    throw DatabaseError(file: file, line: lineNumber, field: "sig", message: "signature before any label")
                }
                var entry = try parseSignature(value, file: file, line: lineNumber)
                entry.id = "p0f-\(direction == .syn ? "syn" : "synack")-\(lineNumber)"
                entry.direction = direction
                entry.osClass = label.osClass
                entry.name = label.name
                entry.flavor = label.flavor
                entry.generic = label.generic
                entry.source = "p0f.fp line \(lineNumber)"
                entries.append(entry)
            default:
                skipped += 1  // `sys`, `classes`, `ua_os`: not part of a TCP signature
            }
        }
        return Result(database: Database(entries: entries, links: links), skippedLines: skipped)
    }

    /// p0f's link names carry no tunnel flag; these words in them mean one.
    static func namesTunnel(_ link: String) -> Bool {
        let lower = link.lowercased()
        return ["tunnel", "vpn", "ipsec", "gre", "ipip", "sit", "pptp", "gif"].contains { lower.contains($0) }
    }

    static func keyValue(_ line: String, file: String, line number: Int) throws -> (String, String) {
        guard let equals = line.firstIndex(of: "=") else {
            throw DatabaseError(file: file, line: number, field: nil, message: "expected KEY = VALUE")
        }
        return (
            line[..<equals].trimmingCharacters(in: .whitespaces),
            line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        )
    }

    /// `s:unix:Linux:3.11 and newer` → class, name, flavor; `g` marks a generic label.
    static func parseLabel(_ text: String, file: String, line: Int) throws -> (OSClass, String, String, Bool) {
        let parts = text.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, parts[0] == "s" || parts[0] == "g" else {
            throw DatabaseError(file: file, line: line, field: "label", message: "expected type:class:name:flavor")
        }
        guard EntryReader.showable(text) else {
            throw DatabaseError(file: file, line: line, field: "label", message: EntryReader.unshowable)
        }
        return (osClass(name: parts[2], p0fClass: parts[1]), parts[2], parts[3], parts[0] == "g")
    }

    static func osClass(name: String, p0fClass: String) -> OSClass {
        let lower = name.lowercased()
        if lower.contains("windows") { return .windows }
        if lower.contains("android") { return .android }
        if lower.contains("ios") && !lower.contains("cisco") { return .iOS }
        if lower.contains("mac os") || lower.contains("macos") { return .macOS }
        if lower.contains("freebsd") { return .freeBSD }
        if lower.contains("openbsd") { return .openBSD }
        if lower.contains("netbsd") { return .netBSD }
        if lower.contains("solaris") { return .solaris }
        if lower.contains("nmap") { return .nmap }
        if lower.contains("masscan") { return .masscan }
        if lower.contains("zmap") { return .zmap }
        if lower.contains("linux") { return .linux }
        return .other
    }

    /// `ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass`.
    static func parseSignature(_ text: String, file: String, line: Int) throws -> DatabaseEntry {
        func fail(_ field: String, _ message: String) -> DatabaseError {
            DatabaseError(file: file, line: line, field: field, message: message)
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 8 else { throw fail("sig", "expected 8 colon-separated fields, found \(parts.count)") }
        let version: Rule<UInt8>
        switch parts[0] {
        case "*": version = .any
        case "4": version = .exactly(4)
        case "6": version = .exactly(6)
        default: throw fail("ver", "expected 4, 6 or *")
        }
        let ttlText = parts[1].hasSuffix("-") ? String(parts[1].dropLast()) : parts[1]
        guard let ttl = UInt8(ttlText) else { throw fail("ittl", "expected a TTL, found \"\(parts[1])\"") }
        let mss: Rule<UInt16>
        if parts[3] == "*" {
            mss = .any
        } else if let value = UInt16(parts[3]) {
            mss = .exactly(value)
        } else {
            throw fail("mss", "expected a number or *")
        }
        let windowParts = parts[4].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard windowParts.count == 2, windowParts[0] == "*" || WindowRule(text: windowParts[0]) != nil, windowParts[0] != "mss*fit" else {
            throw fail("wsize", "expected WSIZE,SCALE")
        }
        let windows: Choices<WindowRule> = WindowRule(text: windowParts[0]).map { Choices([$0]) } ?? .any
        let scales: Choices<ScaleRange>
        if windowParts[1] == "*" {
            scales = .any
        } else if let value = UInt8(windowParts[1]) {
            scales = Choices([ScaleRange(value, value)])
        } else {
            throw fail("scale", "expected a number or *")
        }
        let layout: OptionLayout, padding: Int
        do {
            (layout, padding) = try LayoutSyntax.parse(parts[5])
        } catch let error as LayoutSyntax.Error {
            throw fail("olayout", error.message)
        }
        // p0f matches the quirk set exactly, so an absent df/id+/id-/ecn is a constraint too.
        var others: Quirks = []
        var names = Set<String>()
        for name in parts[6].split(separator: ",").map(String.init) {
            guard let quirk = Quirks(p0fName: name) else { throw fail("quirks", "unknown quirk \"\(name)\"") }
            names.insert(name)
            if Quirks.comparedAsSet.contains(quirk) { others.insert(quirk) }
        }
        let df = names.contains("df")
        let ipID: IPIDRule = df ? (names.contains("id+") ? .nonZero : .zero) : (names.contains("id-") ? .zero : .nonZero)
        var entry = DatabaseEntry(id: "", direction: .syn, osClass: .other, name: "", provenance: .imported, source: "")
        entry.ipVersion = version
        entry.initialTTL = .exactly(Fingerprint.initialTTL(for: ttl))
        entry.dontFragment = version == .exactly(6) ? .any : .exactly(df)
        entry.ipID = version == .exactly(6) ? .any : ipID
        entry.ecn = .exactly(names.contains("ecn"))
        entry.flowLabel = version == .exactly(4) ? .any : .exactly(names.contains("flow"))
        entry.windows = windows
        entry.scales = layout.contains(OptionKind.windowScale) ? scales : .any
        entry.mss = mss
        entry.layouts = Choices([LayoutPattern(layout, eolPadding: padding)])
        entry.quirks = .exactly(others)
        entry.line = line
        return entry
    }
}
