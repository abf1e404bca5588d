/// JSON values written straight into the buffer.
extension TextBuffer {
    /// A JSON string value: quotes, backslashes and control characters escaped. Runs that need
    /// no escape (nearly all text) are copied whole.
    public func appendJSONString(_ text: String) {
        append(ascii: "\"")
        var text = text
        text.withUTF8 { bytes in
            guard let base = bytes.baseAddress else { return }
            var start = 0
            for i in 0..<bytes.count {
                let byte = bytes[i]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                appendRaw(base + start, i - start)
                appendEscaped(byte)
                start = i + 1
            }
            appendRaw(base + start, bytes.count - start)
        }
        append(ascii: "\"")
    }

    func appendEscaped(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): append("\\\"")
        case UInt8(ascii: "\\"): append("\\\\")
        case 0x0A: append("\\n")
        case 0x0D: append("\\r")
        case 0x09: append("\\t")
        default:
            append("\\u00")
            reserve(2)
            storage[used] = TextBuffer.hexDigits.utf8Start[Int(byte >> 4)]
            storage[used + 1] = TextBuffer.hexDigits.utf8Start[Int(byte & 0xF)]
            used += 2
        }
    }

    @inlinable
    public func append(bool: Bool) { append(bool ? "true" : "false") }

    /// Inlinable so callers get it specialized: an unspecialized generic here halved the event rate.
    @inlinable
    public func append<T: BinaryInteger>(optional value: T?) {
        if let value { append(value) } else { append("null") }
    }

    /// A JSON string, or null.
    public func appendJSONString(optional text: String?) {
        if let text { appendJSONString(text) } else { append("null") }
    }

    /// A value in [0, 1] with three decimals, without Foundation's formatter. Values outside the
    /// range (and NaN) are written as the nearest bound, so a line never holds an invalid number.
    public func append(fraction: Float) {
        let clamped = fraction.isNaN ? 0 : min(max(fraction, 0), 1)
        let thousandths = Int((clamped * 1000).rounded())
        append(thousandths / 1000)
        append(ascii: ".")
        append(thousandths % 1000, width: 3)
    }
}
