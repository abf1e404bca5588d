#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A growable UTF-8 byte buffer with allocation-free integer formatting. One is reused for
/// every event, so writing a line costs no heap allocation once its capacity is reached.
/// A class over raw memory: appends are a bounds check and a copy, with no copy-on-write
/// checks, and they inline into the formatting code of other modules.
public final class TextBuffer {
    @usableFromInline var storage: UnsafeMutablePointer<UInt8>
    @usableFromInline var capacity: Int
    @usableFromInline var used = 0
    /// The date and time of the last timestamp written, reused while the second is the same.
    var cachedSecond = Int.min
    var cachedDateTime: (UInt64, UInt64, UInt32) = (0, 0, 0)

    public init(capacity: Int = 4096) {
        self.capacity = max(capacity, 16)
        storage = .allocate(capacity: self.capacity)
    }

    deinit { storage.deallocate() }

    public var count: Int { used }
    public var isEmpty: Bool { used == 0 }
    public func removeAll() { used = 0 }
    public var string: String { String(decoding: UnsafeBufferPointer(start: storage, count: used), as: UTF8.self) }

    /// The bytes written so far, valid until the next append.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage, count: used))
    }

    @inlinable @inline(__always)
    public func reserve(_ extra: Int) {
        if used + extra > capacity { grow(to: used + extra) }
    }

    @usableFromInline
    func grow(to minimum: Int) {
        var newCapacity = capacity * 2
        while newCapacity < minimum { newCapacity *= 2 }
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        bigger.update(from: storage, count: used)
        storage.deallocate()
        storage = bigger
        capacity = newCapacity
    }

    /// Up to 8 bytes packed little-endian in `word` (a name stored as one word): one store.
    /// The caller reserves 8 bytes first.
    @inlinable @inline(__always)
    public func appendPacked(_ word: UInt64, length: Int) {
        UnsafeMutableRawPointer(storage + used).storeBytes(of: word, as: UInt64.self)
        used += length
    }

    /// Short copies (JSON keys, most values) are two overlapping word moves instead of a call
    /// to memmove; a literal's length is a constant, so the branches fold away when inlined.
    @inlinable @inline(__always)
    func appendRaw(_ source: UnsafeRawPointer, _ length: Int) {
        reserve(length)
        let target = UnsafeMutableRawPointer(storage + used)
        if length >= 8 && length <= 16 {
            target.storeBytes(of: source.loadUnaligned(as: UInt64.self), as: UInt64.self)
            target.storeBytes(
                of: source.loadUnaligned(fromByteOffset: length - 8, as: UInt64.self),
                toByteOffset: length - 8, as: UInt64.self)
        } else if length >= 4 && length < 8 {
            target.storeBytes(of: source.loadUnaligned(as: UInt32.self), as: UInt32.self)
            target.storeBytes(
                of: source.loadUnaligned(fromByteOffset: length - 4, as: UInt32.self),
                toByteOffset: length - 4, as: UInt32.self)
        } else {
            target.copyMemory(from: source, byteCount: length)
        }
        used += length
    }

    @inlinable @inline(__always)
    public func append(ascii character: Unicode.Scalar) {
        reserve(1)
        storage[used] = UInt8(truncatingIfNeeded: character.value)
        used += 1
    }

    @inlinable @inline(__always)
    public func append(_ text: StaticString) {
        appendRaw(text.utf8Start, text.utf8CodeUnitCount)
    }

    public func append(_ other: TextBuffer) {
        appendRaw(other.storage, other.used)
    }

    /// Text written elsewhere (an event rendered on a worker).
    public func append(bytes: UnsafeRawBufferPointer) {
        if let base = bytes.baseAddress { appendRaw(base, bytes.count) }
    }

    /// Appends text that is not a literal (labels from the database, User-Agents).
    @inlinable
    public func append(string: String) {
        var s = string
        s.withUTF8 { if let base = $0.baseAddress { appendRaw(base, $0.count) } }
    }

    /// A single digit (most flags, lengths and counts in an event) is stored without a call.
    @inlinable @inline(__always)
    public func append<T: BinaryInteger>(_ value: T) {
        if T.isSigned && value < 0 {
            append(ascii: "-")
            appendDecimal(Int64(truncatingIfNeeded: value).magnitude)  // no trap at Int64.min
        } else if value < 10 {
            reserve(1)
            storage[used] = UInt8(truncatingIfNeeded: value) &+ 48
            used += 1
        } else {
            appendDecimal(UInt64(truncatingIfNeeded: value))
        }
    }

    @usableFromInline
    static let digitPairs: StaticString = """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899
        """

    /// Decimal digits, two at a time from a table, written right to left in place.
    @usableFromInline
    func appendDecimal(_ value: UInt64) {
        reserve(20)
        let pairs = TextBuffer.digitPairs.utf8Start
        if value < 10 {
            storage[used] = UInt8(48 + value)
            used += 1
            return
        }
        if value < 100 {
            storage[used] = pairs[Int(value) * 2]
            storage[used + 1] = pairs[Int(value) * 2 + 1]
            used += 2
            return
        }
        // Ports, windows and IDs stay below 100000: counted without the table of powers.
        let digits = value < 100_000 ? (value < 1000 ? 3 : value < 10_000 ? 4 : 5) : TextBuffer.digitCount(value)
        let out = storage + used  // locals: the stores below cannot alias the fields
        var v = value
        var index = digits
        while v >= 100 {
            let pair = Int(v % 100) * 2
            v /= 100
            index -= 2
            out[index] = pairs[pair]
            out[index + 1] = pairs[pair + 1]
        }
        if v >= 10 {
            out[index - 2] = pairs[Int(v) * 2]
            out[index - 1] = pairs[Int(v) * 2 + 1]
        } else {
            out[index - 1] = UInt8(48 + v)
        }
        used += digits
    }

    @usableFromInline
    static let powersOfTen: [UInt64] = (0...19).map { (0..<$0).reduce(1) { value, _ in value * 10 } }

    /// log10 from the bit length (1233/4096 ≈ log10 2), corrected by one comparison.
    @usableFromInline
    static func digitCount(_ value: UInt64) -> Int {
        let guess = ((64 - value.leadingZeroBitCount) * 1233) >> 12
        return guess + (value >= powersOfTen[guess] ? 1 : 0)
    }

    /// Fixed-width decimal with leading zeros (dates, microseconds); negative values write zeros.
    public func append(_ value: Int, width: Int) {
        reserve(width)
        var v = max(value, 0)
        for i in stride(from: width - 1, through: 0, by: -1) {
            storage[used + i] = UInt8(48 + v % 10)
            v /= 10
        }
        used += width
    }

    @usableFromInline
    static let hexDigits: StaticString = "0123456789abcdef"

    /// Lowercase hex without leading zeros (IPv6 groups).
    public func appendHex(_ value: UInt16) {
        let digits = value == 0 ? 1 : (19 - value.leadingZeroBitCount) / 4
        reserve(4)
        let hex = TextBuffer.hexDigits.utf8Start
        for i in 0..<digits {
            storage[used + i] = hex[Int(value >> UInt16(4 * (digits - 1 - i)) & 0xF)]
        }
        used += digits
    }

    /// Text from a packet for a terminal: control characters (C0, DEL and the C1 range, which
    /// terminals also obey) are written as `\xNN`, so a Host or User-Agent can neither move the
    /// cursor nor start a line of its own.
    public func append(printable text: String) {
        var text = text
        text.withUTF8 { bytes in
            var i = 0
            while i < bytes.count {
                let byte = bytes[i]
                if byte < 0x20 || byte == 0x7F {
                    appendEscapedByte(byte)
                } else if byte == 0xC2, i + 1 < bytes.count, bytes[i + 1] >= 0x80, bytes[i + 1] <= 0x9F {
                    appendEscapedByte(bytes[i + 1])
                    i += 1
                } else {
                    reserve(1)
                    storage[used] = byte
                    used += 1
                }
                i += 1
            }
        }
    }

    private func appendEscapedByte(_ byte: UInt8) {
        append("\\x")
        reserve(2)
        storage[used] = TextBuffer.hexDigits.utf8Start[Int(byte >> 4)]
        storage[used + 1] = TextBuffer.hexDigits.utf8Start[Int(byte & 0xF)]
        used += 2
    }
}
