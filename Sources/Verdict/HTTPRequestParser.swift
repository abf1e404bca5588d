public enum HTTPParse: Equatable {
    case complete(HTTPRequestHead)
    case incomplete  // a request line was seen; the head goes on in a later segment
    case notHTTP  // the connection does not start with an HTTP/1.x request
    case tooLong  // no end of head within `HTTPRequestParser.maximumHead` bytes
}

/// Parses the start of a client's byte stream as an HTTP/1.x request head.
public enum HTTPRequestParser {
    public static let maximumHead = 8192
    /// Request methods followed by their space.
    static let methods: [[UInt8]] = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"]
        .map { Array($0.utf8) + [0x20] }

    public static func parse(_ bytes: UnsafeRawBufferPointer) -> HTTPParse {
        guard let methodAndSpace = methods.first(where: { startsWith(bytes, $0) || isPrefixOfRequest(bytes, $0) }) else {
            return .notHTTP
        }
        let method = methodAndSpace.dropLast()
        guard bytes.count > method.count else { return .incomplete }
        guard let end = headEnd(bytes) else {
            return bytes.count >= maximumHead ? .tooLong : .incomplete
        }
        var head = HTTPRequestHead(method: String(decoding: method, as: UTF8.self))
        var ja4h = JA4HBuilder(method: head.method, version: "11")
        var lineStart = 0
        var first = true
        while lineStart < end {
            var lineEnd = lineStart
            while lineEnd < end, bytes[lineEnd] != 0x0A { lineEnd += 1 }
            var contentEnd = lineEnd
            if contentEnd > lineStart, bytes[contentEnd - 1] == 0x0D { contentEnd -= 1 }
            if first {
                first = false
                ja4h.version = version(bytes, lineStart..<contentEnd)
            } else if let colon = (lineStart..<contentEnd).first(where: { bytes[$0] == 0x3A }) {
                var valueStart = colon + 1
                while valueStart < contentEnd, bytes[valueStart] == 0x20 || bytes[valueStart] == 0x09 { valueStart += 1 }
                var valueEnd = contentEnd
                while valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09 { valueEnd -= 1 }
                let name = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<colon])
                let known = KnownHeader(name)
                if let known, known.isRead { head.take(known, value: text(bytes, valueStart..<valueEnd)) }
                ja4h.add(header: name, known: known, value: UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd]))
            }
            lineStart = lineEnd + 1
        }
        head.ja4h = ja4h.fingerprint
        return .complete(head)
    }

    /// The request line's version as JA4H writes it: `HTTP/1.1` → `11`, `HTTP/1.0` → `10`.
    static func version(_ bytes: UnsafeRawBufferPointer, _ line: Range<Int>) -> String {
        guard line.count >= 3 else { return "00" }
        let major = bytes[line.upperBound - 3], minor = bytes[line.upperBound - 1]
        guard bytes[line.upperBound - 2] == UInt8(ascii: "."), (0x30...0x39).contains(major), (0x30...0x39).contains(minor) else {
            return "00"
        }
        return String(decoding: [major, minor], as: UTF8.self)
    }

    /// A first segment shorter than "GET " that still reads like the start of one.
    static func isPrefixOfRequest(_ bytes: UnsafeRawBufferPointer, _ methodAndSpace: [UInt8]) -> Bool {
        bytes.count < methodAndSpace.count && bytes.count > 0 && zip(bytes, methodAndSpace).allSatisfy { $0 == $1 }
    }

    static func startsWith(_ bytes: UnsafeRawBufferPointer, _ prefix: [UInt8]) -> Bool {
        bytes.count >= prefix.count && zip(bytes, prefix).allSatisfy { $0 == $1 }
    }

    /// The offset of the blank line that ends the head (CRLF CRLF, or bare LF LF).
    static func headEnd(_ bytes: UnsafeRawBufferPointer) -> Int? {
        let limit = min(bytes.count, maximumHead)
        var i = 0
        while i + 1 < limit {
            if bytes[i] == 0x0A {
                if bytes[i + 1] == 0x0A { return i + 1 }
                if bytes[i + 1] == 0x0D, i + 2 < limit, bytes[i + 2] == 0x0A { return i + 1 }
            }
            i += 1
        }
        return nil
    }

    static func text(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }
}
