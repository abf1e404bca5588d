import Features

/// Reads one entry's fields, naming the field in every error.
struct EntryReader {
    let object: JSONObject
    let file: String
    let line: Int
    /// Parsed layouts by their text, shared across the lines of a file: few distinct ones recur.
    var layouts: [String: (OptionLayout, Int)] = [:]

    static let knownKeys: Set<String> = [
        "id", "packet", "class", "name", "flavor", "generic", "ip", "ttl", "df", "ip_id", "ecn", "flow",
        "window", "scale", "mss", "layout", "quirks", "provenance", "source", "counts",
        "first_seen", "last_seen",
    ]

    func fail(_ field: String, _ message: String) -> DatabaseError {
        DatabaseError(file: file, line: line, field: field, message: message)
    }

    func int(_ key: String) throws -> Int {
        guard let value = object[key] else { throw fail(key, "missing") }
        guard let number = value.integer else { throw fail(key, "expected a whole number, found \(value)") }
        return number
    }

    func string(_ key: String, default fallback: String? = nil) throws -> String {
        guard let value = object[key] else {
            if let fallback { return fallback }
            throw fail(key, "missing")
        }
        guard let text = value.string else { throw fail(key, "expected a string, found \(value)") }
        guard EntryReader.showable(text) else { throw fail(key, EntryReader.unshowable) }
        return text
    }

    /// Labels and names are copied into text and p0f log lines as they are: no control
    /// characters (C0, DEL, C1), which a terminal obeys, and no `|`, a p0f field's end.
    static func showable(_ text: String) -> Bool {
        !text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0 == "|" }
    }
    static let unshowable = "control characters and '|' cannot go into output lines"

    func isWildcard(_ key: String) -> Bool {
        guard let value = object[key] else { return true }
        return value.string == "*"
    }

    func bool(_ key: String) throws -> Rule<Bool> {
        if isWildcard(key) { return .any }
        guard let flag = object[key]?.bool else { throw fail(key, "expected true, false or \"*\"") }
        return .exactly(flag)
    }

    func number<T: FixedWidthInteger>(_ key: String, as: T.Type, allowed: Set<Int>? = nil) throws -> Rule<T> {
        if isWildcard(key) { return .any }
        let value = try int(key)
        guard let fitted = T(exactly: value) else { throw fail(key, "\(value) is out of range") }
        if let allowed, !allowed.contains(value) {
            throw fail(key, "expected one of \(allowed.sorted().map(String.init).joined(separator: ", ")) or \"*\", found \(value)")
        }
        return .exactly(fitted)
    }

    static let linkKeys: Set<String> = ["id", "mtu", "link", "tunnel", "provenance", "source"]

    func link() throws -> LinkEntry {
        for key in object.keys where !EntryReader.linkKeys.contains(key) {
            throw fail(key, "unknown field for a link entry (id, mtu, link, tunnel, provenance, source)")
        }
        let id = try string("id")
        guard !id.isEmpty else { throw fail("id", "must not be empty") }
        let mtu = try int("mtu")
        guard (68...65535).contains(mtu) else { throw fail("mtu", "expected 68 to 65535, found \(mtu)") }
        let provenanceName = try string("provenance", default: "curated")
        guard let provenance = Provenance(rawValue: provenanceName) else {
            throw fail("provenance", "expected curated, learned or imported, found \"\(provenanceName)\"")
        }
        guard case .exactly(let tunnel) = try bool("tunnel") else { throw fail("tunnel", "expected true or false") }
        return LinkEntry(
            id: id, mtu: mtu, link: try string("link"), tunnel: tunnel, provenance: provenance,
            source: try string("source", default: ""), line: line)
    }

    mutating func entry() throws -> DatabaseEntry {
        for key in object.keys where !EntryReader.knownKeys.contains(key) {
            throw fail(key, "unknown field (see database/README.md for the schema)")
        }
        let id = try string("id")
        guard !id.isEmpty else { throw fail("id", "must not be empty") }
        let direction: Direction
        switch try string("packet") {
        case "syn": direction = .syn
        case "synack": direction = .synAck
        case let other: throw fail("packet", "expected \"syn\" or \"synack\", found \"\(other)\"")
        }
        let className = try string("class")
        guard let osClass = OSClass(name: className), osClass != .unknown else {
            throw fail("class", "unknown class \"\(className)\"; expected one of \(OSClass.labels.map(\.name).joined(separator: ", "))")
        }
        var generic = false
        if object["generic"] != nil {
            guard case .exactly(let flag) = try bool("generic") else { throw fail("generic", "expected true or false") }
            generic = flag
        }
        let provenanceName = try string("provenance", default: "curated")
        guard let provenance = Provenance(rawValue: provenanceName) else {
            throw fail("provenance", "expected curated, learned or imported, found \"\(provenanceName)\"")
        }
        var entry = DatabaseEntry(
            id: id, direction: direction, osClass: osClass, name: try string("name"),
            flavor: try string("flavor", default: ""), generic: generic, provenance: provenance,
            source: try string("source", default: ""))
        entry.ipVersion = try number("ip", as: UInt8.self, allowed: [4, 6])
        entry.initialTTL = try number("ttl", as: UInt8.self, allowed: [32, 64, 128, 255])
        entry.dontFragment = try bool("df")
        entry.ipID = try ipIDRule()
        entry.ecn = try bool("ecn")
        entry.flowLabel = try bool("flow")
        entry.windows = try choices("window", what: "a window: a number, \"mss*N\", \"mtu*N\", \"%N\" or \"mss*fit\"", windowRule)
        entry.scales = try choices("scale", what: "a window scale: a number or a range \"A-B\"", scaleRange)
        entry.mss = try number("mss", as: UInt16.self)
        entry.layouts = try layoutRule()
        entry.quirks = try quirksRule()
        entry.counts = try counts()
        entry.firstSeen = object["first_seen"]?.string
        entry.lastSeen = object["last_seen"]?.string
        entry.line = line
        return entry
    }

    /// `"*"` (or absent) for any; one value; or an array whose first value is the stack's
    /// default and the rest its variants.
    func choices<Value>(_ key: String, what: String, _ parse: (JSONValue) -> Value?) throws -> Choices<Value> {
        if isWildcard(key) { return .any }
        let items = object[key]?.elements ?? [object[key]!]
        guard !items.isEmpty else { throw fail(key, "an empty list matches nothing; use \"*\" for any") }
        return Choices(
            try items.map { item in
                guard let value = parse(item) else { throw fail(key, "expected \(what), or a list of them; found \(item)") }
                return value
            })
    }

    func windowRule(_ value: JSONValue) -> WindowRule? {
        if let text = value.string { return WindowRule(text: text) }
        guard let n = value.integer, (0...65535).contains(n) else { return nil }
        return .value(n)
    }

    func scaleRange(_ value: JSONValue) -> ScaleRange? {
        if let n = value.integer { return UInt8(exactly: n).map { ScaleRange($0, $0) } }
        guard let text = value.string else { return nil }
        let bounds = text.split(separator: "-", omittingEmptySubsequences: false).map { UInt8($0.trimmingCharacters(in: .whitespaces)) }
        guard bounds.count == 2, let lower = bounds[0], let upper = bounds[1], lower <= upper else { return nil }
        return ScaleRange(lower, upper)
    }

    func ipIDRule() throws -> IPIDRule {
        if isWildcard("ip_id") { return .any }
        if let text = object["ip_id"]?.string {
            switch text {
            case "zero": return .zero
            case "nonzero": return .nonZero
            default: throw fail("ip_id", "expected \"zero\", \"nonzero\", a number or \"*\", found \"\(text)\"")
            }
        }
        guard case .exactly(let value) = try number("ip_id", as: UInt16.self) else { return .any }
        return .value(value)
    }

    mutating func layoutRule() throws -> Choices<LayoutPattern> {
        guard let value = object["layout"] else { throw fail("layout", "missing (use \"*\" for any, \"\" for no options)") }
        if isWildcard("layout") { return .any }
        let items = value.elements ?? [value]
        guard !items.isEmpty else { throw fail("layout", "an empty list matches nothing; use \"*\" for any") }
        var patterns: [LayoutPattern] = []
        for item in items {
            guard let text = item.string else { throw fail("layout", "expected a p0f option layout, or a list of them; found \(item)") }
            if let known = layouts[text] {
                patterns.append(LayoutPattern(known.0, eolPadding: known.1))
                continue
            }
            do {
                let parsed = try LayoutSyntax.parse(text)
                layouts[text] = parsed
                patterns.append(LayoutPattern(parsed.0, eolPadding: parsed.1))
            } catch let error as LayoutSyntax.Error {
                throw fail("layout", error.message)
            }
        }
        return Choices(patterns)
    }

    func quirksRule() throws -> Rule<Quirks> {
        if isWildcard("quirks") { return .any }
        let text = try string("quirks")
        var quirks: Quirks = []
        for name in text.split(separator: ",").map({ String($0.filter { $0 != " " }) }) where !name.isEmpty {
            guard let quirk = Quirks(p0fName: name) else { throw fail("quirks", "unknown quirk \"\(name)\"") }
            guard Quirks.comparedAsSet.contains(quirk) else {
                throw fail("quirks", "\"\(name)\" has a field of its own (df, ip_id, ecn, flow); set that field instead")
            }
            quirks.insert(quirk)
        }
        return .exactly(quirks)
    }

    func counts() throws -> [OSClass: Int] {
        guard let value = object["counts"] else { return [:] }
        guard value.isObject else { throw fail("counts", "expected an object of class: count") }
        var result: [OSClass: Int] = [:]
        for (name, number) in value.members {
            guard let osClass = OSClass(name: name), osClass != .unknown else { throw fail("counts", "unknown class \"\(name)\"") }
            guard let n = number.integer, n >= 0, n <= DatabaseEntry.maximumCount else {
                throw fail("counts", "count for \(name) must be a whole number from 0 to \(DatabaseEntry.maximumCount), found \(number)")
            }
            result[osClass] = n
        }
        return result
    }
}
