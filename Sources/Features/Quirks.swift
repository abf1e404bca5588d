import Formatting

/// Oddities of a SYN or SYN+ACK, under the names p0f gave them (docs/STACKS.md, p0f's quirks).
public struct Quirks: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let dontFragment = Quirks(rawValue: 1 << 0)  // df
    public static let nonZeroIDWithDF = Quirks(rawValue: 1 << 1)  // id+
    public static let zeroIDWithoutDF = Quirks(rawValue: 1 << 2)  // id-
    public static let ecn = Quirks(rawValue: 1 << 3)  // ecn
    public static let reservedIPBit = Quirks(rawValue: 1 << 4)  // 0+
    public static let flowLabel = Quirks(rawValue: 1 << 5)  // flow
    public static let zeroSequence = Quirks(rawValue: 1 << 6)  // seq-
    public static let ackNumberWithoutFlag = Quirks(rawValue: 1 << 7)  // ack+
    public static let ackFlagWithoutNumber = Quirks(rawValue: 1 << 8)  // ack-
    public static let urgentPointerWithoutFlag = Quirks(rawValue: 1 << 9)  // uptr+
    public static let urgentFlag = Quirks(rawValue: 1 << 10)  // urgf+
    public static let pushFlag = Quirks(rawValue: 1 << 11)  // pushf+
    public static let zeroOwnTimestamp = Quirks(rawValue: 1 << 12)  // ts1-
    public static let peerTimestampInSYN = Quirks(rawValue: 1 << 13)  // ts2+
    public static let dataAfterEOL = Quirks(rawValue: 1 << 14)  // opt+
    public static let excessiveWindowScale = Quirks(rawValue: 1 << 15)  // exws
    public static let malformedOptions = Quirks(rawValue: 1 << 16)  // bad

    /// Every quirk with its p0f name, in p0f's printing order, which is also bit order.
    public static let named: [(quirk: Quirks, name: StaticString)] = [
        (.dontFragment, "df"), (.nonZeroIDWithDF, "id+"), (.zeroIDWithoutDF, "id-"), (.ecn, "ecn"),
        (.reservedIPBit, "0+"), (.flowLabel, "flow"), (.zeroSequence, "seq-"),
        (.ackNumberWithoutFlag, "ack+"), (.ackFlagWithoutNumber, "ack-"),
        (.urgentPointerWithoutFlag, "uptr+"), (.urgentFlag, "urgf+"), (.pushFlag, "pushf+"),
        (.zeroOwnTimestamp, "ts1-"), (.peerTimestampInSYN, "ts2+"), (.dataAfterEOL, "opt+"),
        (.excessiveWindowScale, "exws"), (.malformedOptions, "bad"),
    ]

    /// Reads a quirk by its p0f name; nil for a name p0f does not define.
    public init?(p0fName: String) {
        guard let entry = Quirks.named.first(where: { "\($0.name)" == p0fName }) else { return nil }
        self = entry.quirk
    }

    /// Calls `body` with the p0f name of each quirk present, in order; visits set bits only.
    @inlinable
    public func forEachName(_ body: (StaticString) -> Void) {
        var bits = rawValue
        while bits != 0 {
            body(Quirks.named[bits.trailingZeroBitCount].name)
            bits &= bits - 1
        }
    }

    public func write(to out: TextBuffer, separator: Unicode.Scalar = ",") {
        var first = true
        forEachName { name in
            if !first { out.append(ascii: separator) }
            first = false
            out.append(name)
        }
    }
}
