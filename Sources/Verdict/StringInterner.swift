import Synchronization

/// Request text kept in host records, stored once however many connections repeat it (a few
/// User-Agents make most traffic), within a byte budget: when the strings held reach it the
/// table starts over (records keep their copies; only sharing restarts). Each field is cut to
/// `HTTPRequestHead.keptLength` first, so a client cannot make a record large.
public final class StringInterner: Sendable {
    private let table = Mutex<(strings: Set<String>, bytes: Int)>(([], 0))
    public let budget: Int

    public init(budget: Int) {
        self.budget = budget
    }

    public var bytes: Int { table.withLock { $0.bytes } }

    public func intern(_ text: String?, maximum: Int) -> String? {
        guard var text else { return nil }
        if text.utf8.count > maximum { text = HTTPRequestHead.cut(text, to: maximum) }
        return table.withLock { table in
            if let known = table.strings.firstIndex(of: text) { return table.strings[known] }
            let size = text.utf8.count + 32  // the string's bytes and the set's slot, roughly
            if table.bytes + size > budget {
                table.strings.removeAll(keepingCapacity: true)
                table.bytes = 0
            }
            table.strings.insert(text)
            table.bytes += size
            return text
        }
    }

    /// The request with its text fields interned and cut.
    public func intern(_ request: HTTPRequestHead) -> HTTPRequestHead {
        var kept = request
        let limits = HTTPRequestHead.keptLength
        kept.method = intern(request.method, maximum: limits.method) ?? ""
        kept.host = intern(request.host, maximum: limits.host)
        kept.userAgent = intern(request.userAgent, maximum: limits.userAgent)
        kept.platformHint = intern(request.platformHint, maximum: limits.platformHint)
        return kept
    }
}
