import Foundation

/// The TLS library families a ClientHello is told apart by (`database/tls.jsonl`). Browsers
/// bring their own library (Chromium's BoringSSL, Firefox's NSS, Safari's); programs use their
/// language's (Go, Java) or the system's (OpenSSL, GnuTLS, Schannel).
public enum TLSFamily: String, Sendable, CaseIterable {
    case chromium = "Chromium", firefox = "Firefox", safari = "Safari", openSSL = "curl/OpenSSL", gnuTLS = "GnuTLS"
    case python = "Python", node = "Node", java = "Java", go = "Go", schannel = "Schannel", okHttp = "OkHttp"
    /// A library none of the table's stacks resembles.
    case other

    /// The TLS library underneath: programs on one library (curl, Python and Node on OpenSSL)
    /// differ in what they add to its defaults, which a table without their own stack cannot
    /// tell apart; the library itself it still can.
    public var library: String {
        switch self {
        case .chromium: "BoringSSL"
        case .firefox: "NSS"
        case .safari: "Apple"
        case .openSSL, .python, .node: "OpenSSL"
        case .gnuTLS: "GnuTLS"
        case .java: "JSSE"
        case .go: "Go"
        case .schannel: "Schannel"
        case .okHttp: "Conscrypt"
        case .other: "other"
        }
    }
}

/// One TLS stack of the table: what its ClientHello offers by default, as sets (Chromium
/// shuffles its extensions, and a new version adds or drops a few), with GREASE and ALPN, and
/// the order of its suites (a library's preference, which it keeps from version to version). The
/// sets are sorted arrays without repeats: a hello is compared with every stack, and merging
/// sorted arrays costs no allocation or hashing (with `Set`s, most of a hello's time, perf). A
/// class: a hello is compared with every stack, and handing a struct of seven lists to the
/// comparison retained and released each of them (perf).
public final class TLSStack: Sendable {
    public let id: String
    public let family: TLSFamily
    public let name: String
    public let grease: Bool
    public let ciphers: [UInt16]
    /// The suites in the order the library offers them, without repeats.
    public let preference: [UInt16]
    public let extensions: [UInt16]
    public let groups: [UInt16]
    public let alpn: [String]

    public init(
        id: String, family: TLSFamily, name: String, grease: Bool, ciphers: [UInt16], extensions: [UInt16], groups: [UInt16],
        alpn: [String]
    ) {
        self.id = id
        self.family = family
        self.name = name
        self.grease = grease
        self.ciphers = TLSStacks.sortedSet(ciphers)
        preference = TLSStacks.firstOccurrences(ciphers)
        self.extensions = TLSStacks.sortedSet(extensions)
        self.groups = TLSStacks.sortedSet(groups)
        self.alpn = alpn
    }
}

/// What a ClientHello says of the client's TLS library: the family, the closest stack's name
/// and how sure that is (0 to 1), of the family and of the library under it.
public struct TLSClient: Sendable, Equatable {
    public let family: TLSFamily
    public let name: String
    public let confidence: Float
    public let libraryConfidence: Float

    public init(family: TLSFamily, name: String, confidence: Float, libraryConfidence: Float) {
        self.family = family
        self.name = name
        self.confidence = confidence
        self.libraryConfidence = libraryConfidence
    }
}

/// The table of TLS stacks, matched on structure: the share of suites, extensions and groups a
/// hello has in common with each stack (Jaccard), and its GREASE and ALPN. A hello from a new
/// version of a known library still lands in its family, less sure; one that resembles no
/// stack closely is `other`. The format is in database/README.md.
public struct TLSStacks: Sendable {
    public static let schemaVersion = 1
    public static let fileName = "tls.jsonl"
    public let stacks: [TLSStack]

    /// Below this similarity to every stack, the library is `other`.
    static let least: Float = 0.6
    /// How sharply the families' similarities are turned into shares: two families 0.05 apart
    /// share about 27 % and 73 %.
    static let sharpness: Float = 20

    public init(stacks: [TLSStack]) { self.stacks = stacks }

    public static func load(file: String) throws(DatabaseError) -> TLSStacks {
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            let reason = access(file, R_OK) == 0 ? "not UTF-8 text" : String(cString: strerror(errno))
            throw DatabaseError(file: file, line: 0, field: nil, message: "cannot read the file: " + reason)
        }
        var stacks: [TLSStack] = []
        var ids: [String: Int] = [:]
        var header = false
        // json-c, as for the OS database: strict types (a 1 is no `true`) and no boxed values.
        let parser = JSONObject.Parser()
        for (index, line) in text.lines.enumerated() {
            let number = index + 1
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            func fail(_ field: String?, _ message: String) -> DatabaseError {
                DatabaseError(file: file, line: number, field: field, message: message)
            }
            var source = trimmed
            guard let object = try? source.withUTF8({ try parser.parse(UnsafeRawBufferPointer($0)) }) else {
                throw fail(nil, "not a JSON object")
            }
            guard header else {
                guard object["synprint_tls"]?.numberText == String(schemaVersion) else {
                    throw fail(nil, "the first object must be the header {\"synprint_tls\": \(schemaVersion)}")
                }
                header = true
                continue
            }
            guard let id = object["id"]?.string, !id.isEmpty else { throw fail("id", "a non-empty string") }
            if let first = ids[id] { throw fail("id", "duplicate id \"\(id)\" (first on line \(first))") }
            ids[id] = number
            guard let familyName = object["family"]?.string, let family = TLSFamily(rawValue: familyName), family != .other else {
                throw fail("family", "one of " + TLSFamily.allCases.filter { $0 != .other }.map(\.rawValue).joined(separator: ", "))
            }
            guard let name = object["name"]?.string, !name.isEmpty else { throw fail("name", "a non-empty string") }
            guard let grease = object["grease"]?.bool else { throw fail("grease", "true or false") }
            func strings(_ field: String) -> [String]? {
                guard let elements = object[field]?.elements else { return nil }
                let texts = elements.compactMap(\.string)
                return texts.count == elements.count ? texts : nil
            }
            func codes(_ field: String) throws(DatabaseError) -> [UInt16] {
                guard let list = strings(field), !list.isEmpty else { throw fail(field, "a list of 4-digit hex values") }
                var values: [UInt16] = []
                for text in list {
                    guard text.utf8.count == 4, text.allSatisfy(\.isHexDigit), let value = UInt16(text, radix: 16) else {
                        throw fail(field, "\"\(text)\" is not 4 hex digits")
                    }
                    values.append(value)
                }
                return values
            }
            guard let alpn = strings("alpn") else { throw fail("alpn", "a list of protocol names (empty for none)") }
            guard object["source"]?.string != nil else { throw fail("source", "where the facts come from") }
            stacks.append(
                TLSStack(
                    id: id, family: family, name: name, grease: grease, ciphers: try codes("ciphers"), extensions: try codes("extensions"),
                    groups: try codes("groups"), alpn: alpn))
        }
        guard header else { throw DatabaseError(file: file, line: 0, field: nil, message: "no header {\"synprint_tls\": 1}") }
        return TLSStacks(stacks: stacks)
    }

    /// A stack as a line of the table (`db build --tls` writes them; `load` reads them).
    public static func line(_ stack: TLSStack, source: String) -> String {
        func json(_ text: String) -> String {
            let data = try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])
            return data.map { String(decoding: $0.dropFirst().dropLast(), as: UTF8.self) } ?? "\"\""
        }
        func codes(_ values: [UInt16]) -> String {
            "["
                + values.map { value in
                    let digits = String(value, radix: 16)
                    return "\"" + String(repeating: "0", count: 4 - digits.count) + digits + "\""
                }.joined(separator: ", ") + "]"
        }
        return "{\"id\": \(json(stack.id)), \"family\": \(json(stack.family.rawValue)), \"name\": \(json(stack.name)), "
            + "\"grease\": \(stack.grease), \"ciphers\": \(codes(stack.preference)), \"extensions\": \(codes(stack.extensions)), "
            + "\"groups\": \(codes(stack.groups)), \"alpn\": [\(stack.alpn.map(json).joined(separator: ", "))], \"source\": \(json(source))}"
    }

    /// Sorted, without repeats.
    public static func sortedSet(_ values: [UInt16]) -> [UInt16] {
        var sorted = values.sorted()
        var kept = 0
        for value in sorted where kept == 0 || sorted[kept - 1] != value {
            sorted[kept] = value
            kept += 1
        }
        sorted.removeLast(sorted.count - kept)
        return sorted
    }

    /// The values in their first order, each once.
    public static func firstOccurrences(_ values: [UInt16]) -> [UInt16] {
        var seen = Set<UInt16>(), kept: [UInt16] = []
        for value in values where seen.insert(value).inserted { kept.append(value) }
        return kept
    }

    /// Whether a sorted set holds `value` (binary search).
    static func holds(_ sorted: [UInt16], _ value: UInt16) -> Bool {
        var low = 0, high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low < sorted.count && sorted[low] == value
    }

    /// How many of the suites both offer are compared in order: the leading ones, which a
    /// library's preference decides (AES-256 or AES-128 first, ECDSA or RSA first).
    static let leading = 4

    /// Of the first `leading` suites a hello and a stack both offer, the share each lists at the
    /// same place: 1 when the hello keeps the stack's preference; 0 without a suite in common.
    /// `ordered` is the hello's suites in its order, `sorted` the same as a sorted set.
    static func leadingOrder(_ stack: TLSStack, ordered: [UInt16], sorted: [UInt16]) -> Float {
        var first = InlineArray<4, UInt16>(repeating: 0)
        var count = 0
        for code in ordered where holds(stack.ciphers, code) {
            first[count] = code
            count += 1
            if count == leading { break }
        }
        guard count > 0 else { return 0 }
        var same = 0, index = 0
        for code in stack.preference where holds(sorted, code) {
            if first[index] == code { same += 1 }
            index += 1
            if index == count { break }
        }
        return Float(same) / Float(count)
    }

    /// The share two sorted sets have in common of all in either (Jaccard), by one merge.
    static func jaccard(_ a: [UInt16], _ b: [UInt16]) -> Float {
        var i = 0, j = 0, common = 0
        while i < a.count && j < b.count {
            if a[i] == b[j] {
                common += 1
                i += 1
                j += 1
            } else if a[i] < b[j] {
                i += 1
            } else {
                j += 1
            }
        }
        let union = a.count + b.count - common
        return union == 0 ? 1 : Float(common) / Float(union)
    }

    /// How much of a hello a stack shares, 0 to 1 (the sets sorted, without repeats; `ordered`
    /// the hello's suites in its order). The suites' order tells apart libraries that offer the
    /// same common TLS 1.2 sets (Windows' Schannel and BoringSSL's defaults without GREASE).
    static func similarity(
        _ stack: TLSStack, ciphers: [UInt16], ordered: [UInt16], extensions: [UInt16], groups: [UInt16], grease: Bool, protocols: [String]
    ) -> Float {
        0.25 * jaccard(stack.ciphers, ciphers) + 0.15 * leadingOrder(stack, ordered: ordered, sorted: ciphers)
            + 0.3 * jaccard(stack.extensions, extensions) + 0.15 * jaccard(stack.groups, groups) + (stack.grease == grease ? 0.1 : 0)
            + (stack.alpn == protocols ? 0.05 : 0)
    }

    /// The family of a hello's library. `ciphers` in the hello's order; `ciphers`, `extensions`
    /// and `groups` without GREASE.
    public func classify(ciphers: [UInt16], extensions: [UInt16], groups: [UInt16], grease: Bool, protocols: [String]) -> TLSClient {
        let c = TLSStacks.sortedSet(ciphers), e = TLSStacks.sortedSet(extensions), g = TLSStacks.sortedSet(groups)
        // Each family's closest stack: a few families, so a short list searched in place.
        var best: [(family: TLSFamily, similarity: Float, stack: Int)] = []
        best.reserveCapacity(TLSFamily.allCases.count)
        for (index, stack) in stacks.enumerated() {
            let s = TLSStacks.similarity(
                stack, ciphers: c, ordered: ciphers, extensions: e, groups: g, grease: grease, protocols: protocols)
            if let known = best.firstIndex(where: { $0.family == stack.family }) {
                if s > best[known].similarity { best[known] = (stack.family, s, index) }
            } else {
                best.append((stack.family, s, index))
            }
        }
        guard let top = best.max(by: { $0.similarity < $1.similarity }), top.similarity >= TLSStacks.least else {
            let closest = best.map(\.similarity).max() ?? 0
            return TLSClient(family: .other, name: "", confidence: 1 - closest, libraryConfidence: 1 - closest)
        }
        var total: Float = 0, library: Float = 0
        for family in best {
            let weight = exp(TLSStacks.sharpness * (family.similarity - top.similarity))
            total += weight
            if family.family.library == top.family.library { library += weight }
        }
        return TLSClient(
            family: top.family, name: stacks[top.stack].name, confidence: top.similarity / total,
            libraryConfidence: top.similarity * library / total)
    }
}
