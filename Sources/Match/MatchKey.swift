import Features

/// The features the matcher looks at, reduced so that equal keys always get equal answers.
struct MatchKey: Hashable {
    var direction: Direction
    var ipVersion: UInt8
    /// Which of the initial TTLs 32, 64, 128, 255 lie within 35 hops above the TTL as it arrived
    /// (bits 0-3): all an entry's TTL is compared with, so SYNs a few hops apart share answers.
    var reachableTTLs: UInt8
    var dontFragment: Bool
    var ipID: Int32  // an ID some entry fixes, else -1 zero / -2 non-zero
    var ecn: Bool
    var flowLabel: Bool
    var window: UInt16
    var mss: Int32  // as it arrived; -1 without an MSS option
    var senderMSS: Int32  // the sender's own, when a middlebox lowered it; else `mss`
    var scale: Int16  // -1 without a window scale option
    var layout: OptionLayout
    var eolPadding: Int
    var quirks: Quirks  // only the quirks compared as a set

    /// Hashes the scalar fields packed into three words and the layout as bytes: four calls
    /// into the hasher per packet instead of fifteen.
    func hash(into hasher: inout Hasher) {
        let first =
            UInt64(direction == .syn ? 1 : 0) | UInt64(ipVersion) << 1 | UInt64(reachableTTLs) << 5
            | UInt64(dontFragment ? 1 : 0) << 14 | UInt64(ecn ? 1 : 0) << 15
            | UInt64(window) << 16 | UInt64(UInt32(bitPattern: mss)) << 32
        let second =
            UInt64(UInt32(bitPattern: ipID)) | UInt64(UInt16(bitPattern: scale)) << 32
            | UInt64(truncatingIfNeeded: eolPadding) << 48 | UInt64(flowLabel ? 1 : 0) << 63
        hasher.combine(first)
        hasher.combine(second ^ UInt64(quirks.rawValue) << 8)
        hasher.combine(senderMSS)
        hasher.combine(layout)
    }
}
