import Formatting

/// p0f's names for option kinds, shared by signature output and the p0f importer.
public enum OptionNames {
    public static func name(of kind: UInt8) -> StaticString? {
        switch kind {
        case OptionKind.eol: "eol"
        case OptionKind.nop: "nop"
        case OptionKind.mss: "mss"
        case OptionKind.windowScale: "ws"
        case OptionKind.sackPermitted: "sok"
        case OptionKind.sack: "sack"
        case OptionKind.timestamp: "ts"
        default: nil
        }
    }

    /// Each known kind's name packed little-endian in one word, with its length: writing a
    /// layout stores one word per option instead of switching on the kind.
    static let packedNames: [(word: UInt64, length: Int)] = (0...8).map { kind in
        guard let name = name(of: UInt8(kind)) else { return (0, 0) }
        var word: UInt64 = 0
        for (i, byte) in name.description.utf8.enumerated() { word |= UInt64(byte) << (8 * UInt64(i)) }
        return (word, name.utf8CodeUnitCount)
    }

    public static func write(_ layout: OptionLayout, eolPadding: Int, to out: TextBuffer) {
        out.reserve(layout.count * 8 + 8)  // appendPacked stores 8 bytes per option
        packedNames.withUnsafeBufferPointer { packed in
            layout.withKinds { kinds in
                for (i, kind) in kinds.enumerated() {
                    if i > 0 { out.append(ascii: ",") }
                    if kind == OptionKind.eol {
                        out.append("eol+")
                        out.append(eolPadding)
                    } else if kind <= 8, packed[Int(kind)].length > 0 {
                        out.appendPacked(packed[Int(kind)].word, length: packed[Int(kind)].length)
                    } else {
                        out.append(ascii: "?")
                        out.append(kind)
                    }
                }
            }
        }
    }
}
