import Features

/// One fingerprint of the database: the packets it describes, their label, and the evidence.
public struct DatabaseEntry: Sendable {
    public var id: String
    public var direction: Direction
    public var osClass: OSClass
    public var name: String
    public var flavor: String
    public var generic: Bool           // describes a family of versions loosely (p0f `g`)
    public var ipVersion: Rule<UInt8>
    public var initialTTL: Rule<UInt8>
    public var dontFragment: Rule<Bool>
    public var ipID: IPIDRule
    public var ecn: Rule<Bool>
    public var window: WindowRule
    public var windowScale: Rule<UInt8>    // `exactly` requires a ws option with that value
    public var mss: Rule<UInt16>
    public var layout: Rule<OptionLayout>
    public var eolPadding: Int
    public var quirks: Rule<Quirks>        // the quirks beyond df/id+/id-/ecn, which have fields
    public var provenance: Provenance
    public var source: String
    /// Observations per class (learned entries); empty means "curated for `osClass`".
    public var counts: [OSClass: Int]
    public var firstSeen: String?
    public var lastSeen: String?
    /// The line the entry was read from, for error messages and review.
    public var line: Int

    public init(id: String, direction: Direction, osClass: OSClass, name: String, flavor: String, generic: Bool, ipVersion: Rule<UInt8>, initialTTL: Rule<UInt8>, dontFragment: Rule<Bool>, ipID: IPIDRule, ecn: Rule<Bool>, window: WindowRule, windowScale: Rule<UInt8>, mss: Rule<UInt16>, layout: Rule<OptionLayout>, eolPadding: Int, quirks: Rule<Quirks>, provenance: Provenance, source: String, counts: [OSClass: Int], firstSeen: String?, lastSeen: String?, line: Int) {
        self.id = id
        self.direction = direction
        self.osClass = osClass
        self.name = name
        self.flavor = flavor
        self.generic = generic
        self.ipVersion = ipVersion
        self.initialTTL = initialTTL
        self.dontFragment = dontFragment
        self.ipID = ipID
        self.ecn = ecn
        self.window = window
        self.windowScale = windowScale
        self.mss = mss
        self.layout = layout
        self.eolPadding = eolPadding
        self.quirks = quirks
        self.provenance = provenance
        self.source = source
        self.counts = counts
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.line = line
    }

    public var label: String { flavor.isEmpty ? name : "\(name) \(flavor)" }
    public var totalCount: Int { counts.values.reduce(0, +) }
}

extension Quirks {
    /// Quirks that the matcher compares as a set; the rest have fields of their own.
    public static let comparedAsSet: Quirks = Quirks(rawValue: ~(Quirks.dontFragment.rawValue
        | Quirks.nonZeroIDWithDF.rawValue | Quirks.zeroIDWithoutDF.rawValue | Quirks.ecn.rawValue))
}
