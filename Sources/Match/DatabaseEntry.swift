import Features

/// One entry of the database: a stack (its defaults, and the variants its configuration allows)
/// and the OS it belongs to, with the evidence. Path effects (MSS, hop count) are not part of a
/// stack: the matcher explains them with `PathModel` instead of matching them.
public struct DatabaseEntry: Sendable {
    public var id: String
    public var direction: Direction
    public var osClass: OSClass
    public var name: String
    public var flavor: String
    public var generic: Bool  // describes a family of versions loosely (p0f `g`)
    public var ipVersion: Rule<UInt8> = .any
    public var initialTTL: Rule<UInt8> = .any
    public var dontFragment: Rule<Bool> = .any  // IPv4 only
    public var ipID: IPIDRule = .any  // IPv4 only
    public var ecn: Rule<Bool> = .any
    public var flowLabel: Rule<Bool> = .any  // IPv6 only
    public var windows: Choices<WindowRule> = .any
    public var scales: Choices<ScaleRange> = .any  // a value requires a window scale option
    /// A fixed MSS (scanners); `any` for real stacks, whose MSS follows the path.
    public var mss: Rule<UInt16> = .any
    public var layouts: Choices<LayoutPattern> = .any
    public var quirks: Rule<Quirks> = .any  // the quirks without fields of their own
    public var provenance: Provenance
    public var source: String
    /// Observations per class (learned entries, or a curated prior); empty means "`osClass`".
    public var counts: [OSClass: Int] = [:]
    public var firstSeen: String?
    public var lastSeen: String?
    /// The line the entry was read from, for error messages and review.
    public var line: Int = 0

    public init(
        id: String, direction: Direction, osClass: OSClass, name: String, flavor: String = "", generic: Bool = false,
        provenance: Provenance, source: String
    ) {
        self.id = id
        self.direction = direction
        self.osClass = osClass
        self.name = name
        self.flavor = flavor
        self.generic = generic
        self.provenance = provenance
        self.source = source
    }

    /// "Linux 4.19-6.x"; a flavor that names the systems again goes in parentheses:
    /// "macOS or iOS (macOS 11+, iOS 14+)".
    public var label: String {
        guard !flavor.isEmpty else { return name }
        let repeats = name.split(separator: " ").first.map { flavor.hasPrefix($0) } ?? false
        return repeats ? "\(name) (\(flavor))" : "\(name) \(flavor)"
    }

    /// All observations, saturating (counts are validated below `DatabaseEntry.maximumCount`).
    public var totalCount: Int {
        counts.values.reduce(0) { $0.adding(saturating: $1) }
    }

    /// The largest count a file may hold: far above any real tally, far below overflow.
    public static let maximumCount = 1 << 40
}

extension Quirks {
    /// Quirks that the matcher compares as a set; the rest have fields of their own
    /// (`df`, `ip_id`, `ecn`, `flow`).
    public static let comparedAsSet: Quirks = Quirks(
        rawValue:
            ~(Quirks.dontFragment.rawValue
            | Quirks.nonZeroIDWithDF.rawValue | Quirks.zeroIDWithoutDF.rawValue | Quirks.ecn.rawValue | Quirks.flowLabel.rawValue))
}

extension Int {
    /// `self + other`, or `Int.max` where it would overflow: counts add up, never trap.
    public func adding(saturating other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? Int.max : Int.min) : sum
    }
}
