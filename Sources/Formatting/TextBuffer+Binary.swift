/// Binary values, for ClickHouse's RowBinary rows (the fleet store): numbers little-endian,
/// lengths and counts as LEB128 variable-length integers.
extension TextBuffer {
    @inlinable @inline(__always)
    public func append<T: FixedWidthInteger>(littleEndian value: T) {
        reserve(MemoryLayout<T>.size)
        UnsafeMutableRawPointer(storage + used).storeBytes(of: value.littleEndian, as: T.self)
        used += MemoryLayout<T>.size
    }

    /// Writes `value` over bytes already appended at `offset` (a length known only once what
    /// it measures is written).
    public func overwrite<T: FixedWidthInteger>(littleEndian value: T, at offset: Int) {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= used, "overwrite past the end")
        UnsafeMutableRawPointer(storage + offset).storeBytes(of: value.littleEndian, as: T.self)
    }

    @inlinable
    public func append(varUInt value: Int) {
        var rest = UInt64(max(value, 0))
        reserve(10)
        while rest >= 0x80 {
            storage[used] = UInt8(truncatingIfNeeded: rest) | 0x80
            used += 1
            rest >>= 7
        }
        storage[used] = UInt8(rest)
        used += 1
    }

    /// A string as RowBinary stores it: its length in bytes, then its bytes.
    @inlinable
    public func append(lengthPrefixed text: String) {
        var s = text
        s.withUTF8 { bytes in
            append(varUInt: bytes.count)
            if let base = bytes.baseAddress { appendRaw(base, bytes.count) }
        }
    }

    @inlinable
    public func append(lengthPrefixed text: StaticString) {
        append(varUInt: text.utf8CodeUnitCount)
        appendRaw(text.utf8Start, text.utf8CodeUnitCount)
    }

    /// Another buffer's bytes as one RowBinary string.
    public func append(lengthPrefixed other: TextBuffer) {
        append(varUInt: other.used)
        appendRaw(other.storage, other.used)
    }
}
