import Features
import Match

/// The features a learned entry fixes: the matcher's fields with the window written as the
/// stack's rule (`mss*fit` when it is the largest multiple of the sender's MSS under 65535, else
/// `mss*N` as p0f writes it) and the MSS left open, since the MSS follows the network path while
/// the rest follows the stack.
public struct LearnKey: Hashable, Sendable {
    var ipVersion: UInt8
    var initialTTL: UInt8
    var dontFragment: Bool
    var ipIDZero: Bool?  // nil for IPv6, which has no ID field
    var ecn: Bool
    var window: WindowRule
    var scale: UInt8?
    var layout: OptionLayout
    var eolPadding: Int
    var quirks: Quirks

    public init(_ fp: Fingerprint) {
        ipVersion = fp.ip.version
        initialTTL = fp.initialTTL
        dontFragment = fp.ip.dontFragment
        ipIDZero = fp.ip.version == 4 ? fp.ip.ipID == 0 : nil
        ecn = fp.quirks.contains(.ecn)
        let mss = fp.options.mss.map(Int.init) ?? 0
        let senderMSS = PathModel.senderMSS(window: Int(fp.segment.window), mss: mss, ipVersion: fp.ip.version) ?? mss
        if senderMSS > 0, Int(fp.segment.window) == WindowRule.fitWindow(mss: senderMSS) {
            window = .mssFit
        } else {
            switch fp.windowForm {
            case .mssMultiple(let n): window = .mssMultiple(n)
            case .mtuMultiple(let n): window = .mtuMultiple(n)
            case .value(let n): window = .value(n)
            }
        }
        scale = fp.options.windowScale
        layout = fp.options.layout
        eolPadding = fp.options.eolPadding
        quirks = fp.quirks.intersection(.comparedAsSet)
    }

    /// A learned SYN entry for this key.
    public func entry(counts: [OSClass: Int], firstSeen: String?, lastSeen: String?, source: String) -> DatabaseEntry {
        let osClass = LearnKey.majority(counts)
        var entry = DatabaseEntry(
            id: "", direction: .syn, osClass: osClass, name: osClass.name, flavor: "learned",
            provenance: .learned, source: source)
        entry.ipVersion = .exactly(ipVersion)
        entry.initialTTL = .exactly(initialTTL)
        entry.dontFragment = ipVersion == 4 ? .exactly(dontFragment) : .any
        entry.ipID = ipIDZero.map { $0 ? .zero : .nonZero } ?? .any
        entry.ecn = .exactly(ecn)
        entry.windows = Choices([window])
        entry.scales = scale.map { Choices([ScaleRange($0, $0)]) } ?? .any
        entry.layouts = Choices([LayoutPattern(layout, eolPadding: eolPadding)])
        entry.quirks = .exactly(quirks)
        entry.counts = counts
        entry.firstSeen = firstSeen
        entry.lastSeen = lastSeen
        entry.id = LearnKey.id(for: entry)
        return entry
    }

    /// The most observed class; ties go to the class listed first.
    public static func majority(_ counts: [OSClass: Int]) -> OSClass {
        counts.max { $0.value != $1.value ? $0.value < $1.value : $0.key.rawValue > $1.key.rawValue }?.key ?? .other
    }

    /// A stable id from what the entry matches, so rebuilding gives the same ids.
    public static func id(for entry: DatabaseEntry) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for byte in EntryWriter.constraints(entry).utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "learned-" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
