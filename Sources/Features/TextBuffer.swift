/// An append-only UTF-8 byte buffer with allocation-free integer formatting. One is reused
/// for every event, so writing a line costs no heap allocation once its capacity is reached.
public struct TextBuffer {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 4096) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }
    public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }
    public var string: String { String(decoding: bytes, as: UTF8.self) }

    @inline(__always)
    public mutating func append(ascii character: Unicode.Scalar) { bytes.append(UInt8(ascii: character)) }

    public mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func append(_ buffer: TextBuffer) { bytes.append(contentsOf: buffer.bytes) }

    /// Appends text that is not a literal (labels from the database, User-Agents).
    public mutating func append(string: String) {
        var s = string
        s.withUTF8 { bytes.append(contentsOf: $0) }
    }

    public mutating func append<T: BinaryInteger>(_ value: T) {
        if value < 0 {
            append(ascii: "-")
            appendUnsigned(UInt64(-Int64(value)))
        } else {
            appendUnsigned(UInt64(value))
        }
    }

    /// Fixed-width decimal with leading zeros (dates, microseconds).
    public mutating func append(_ value: Int, width: Int) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var v = value
        while divisor > 0 {
            bytes.append(UInt8(48 + (v / divisor) % 10))
            v %= divisor
            divisor /= 10
        }
    }

    public mutating func appendHex(_ value: UInt16) {
        let digits: StaticString = "0123456789abcdef"
        var started = false
        for shift in stride(from: 12, through: 0, by: -4) {
            let nibble = Int((value >> UInt16(shift)) & 0xF)
            if nibble != 0 || started || shift == 0 {
                started = true
                bytes.append(digits.utf8Start[nibble])
            }
        }
    }

    private mutating func appendUnsigned(_ value: UInt64) {
        if value < 10 {
            bytes.append(UInt8(48 + value))
            return
        }
        // Up to 20 digits, written backwards into a stack tuple.
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &scratch) { raw in
            var v = value
            var index = 24
            while v > 0 {
                index -= 1
                raw[index] = UInt8(48 + v % 10)
                v /= 10
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[index..<24]))
        }
    }

    /// A JSON string value: quotes, backslashes and control characters escaped.
    public mutating func appendJSONString(_ text: String) {
        append(ascii: "\"")
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            case 0..<0x20:
                append("\\u00")
                let digits: StaticString = "0123456789abcdef"
                bytes.append(digits.utf8Start[Int(byte >> 4)])
                bytes.append(digits.utf8Start[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        append(ascii: "\"")
    }
}
