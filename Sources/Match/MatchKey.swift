import Features

/// The features the matcher looks at, reduced so that equal keys always get equal answers.
struct MatchKey: Hashable {
    var direction: Direction
    var ipVersion: UInt8
    var initialTTL: UInt8
    var plausibleDistance: Bool
    var dontFragment: Bool
    var ipID: Int32               // an ID some entry fixes, else -1 zero / -2 non-zero
    var ecn: Bool
    var window: UInt16
    var mss: Int32                // -1 without an MSS option
    var scale: Int16              // -1 without a window scale option
    var layout: OptionLayout
    var eolPadding: Int
    var quirks: Quirks            // only the quirks compared as a set

    /// Hashes the scalar fields packed into two words and the layout as bytes: three calls
    /// into the hasher per packet instead of thirteen.
    func hash(into hasher: inout Hasher) {
        let first = UInt64(direction == .syn ? 1 : 0) | UInt64(ipVersion) << 1 | UInt64(initialTTL) << 5
            | UInt64(plausibleDistance ? 1 : 0) << 13 | UInt64(dontFragment ? 1 : 0) << 14 | UInt64(ecn ? 1 : 0) << 15
            | UInt64(window) << 16 | UInt64(UInt32(bitPattern: mss)) << 32
        let second = UInt64(UInt32(bitPattern: ipID)) | UInt64(UInt16(bitPattern: scale)) << 32
            | UInt64(truncatingIfNeeded: eolPadding) << 48
        hasher.combine(first)
        hasher.combine(second ^ UInt64(quirks.rawValue) << 8)
        hasher.combine(layout)
    }
}
