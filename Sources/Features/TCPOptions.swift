import Decode

/// The options of one TCP header in wire order, decoded without allocation.
public struct TCPOptions: Sendable {
    /// Option kinds in wire order; an EOL appears once, its padding counted in `eolPadding`.
    public var layout = OptionLayout()
    public var eolPadding = 0  // bytes after EOL (p0f `eol+N`)
    public var dataAfterEOL = false  // non-zero bytes after EOL (p0f quirk `opt+`)
    public var malformed = false  // length 0/1, overlong, or wrong for its kind (`bad`)
    public var mss: UInt16?
    public var windowScale: UInt8?
    public var sackPermitted = false
    public var sackBlocks = 0
    public var timestampValue: UInt32?
    public var timestampEcho: UInt32?
    public var fastOpenCookieLength: Int?  // kind 34, or 254 with magic 0xF989
    public var mptcpSubtype: UInt8?
    public var md5 = false
    public var authentication = false
    public var unknownCount = 0

    public init() {}

    /// Parses `length` option bytes at `offset` in `bytes` (the TCP header after 20 bytes).
    public init(_ bytes: UnsafeRawBufferPointer, offset: Int, length: Int) {
        let end = offset + length
        var i = offset
        while i < end {
            let kind = bytes.u8(i)
            if kind == OptionKind.eol {
                layout.append(kind)
                eolPadding = end - i - 1
                for j in (i + 1)..<end where bytes.u8(j) != 0 {
                    dataAfterEOL = true
                    break
                }
                return
            }
            if kind == OptionKind.nop {
                layout.append(kind)
                i += 1
                continue
            }
            guard i + 1 < end else {
                layout.append(kind)
                malformed = true
                return
            }
            let size = Int(bytes.u8(i + 1))
            guard size >= 2, i + size <= end else {
                layout.append(kind)
                malformed = true
                return
            }
            let body = i + 2
            switch kind {
            case OptionKind.mss:
                if size == 4 { mss = bytes.u16(body) } else { malformed = true }
            case OptionKind.windowScale:
                if size == 3 { windowScale = bytes.u8(body) } else { malformed = true }
            case OptionKind.sackPermitted:
                if size == 2 { sackPermitted = true } else { malformed = true }
            case OptionKind.sack:
                if (size - 2) % 8 == 0, size > 2 { sackBlocks = (size - 2) / 8 } else { malformed = true }
            case OptionKind.timestamp:
                if size == 10 {
                    timestampValue = bytes.u32(body)
                    timestampEcho = bytes.u32(body + 4)
                } else {
                    malformed = true
                }
            case OptionKind.fastOpen:
                fastOpenCookieLength = size - 2
            case OptionKind.experimental:
                if size >= 4, bytes.u16(body) == 0xF989 {
                    fastOpenCookieLength = size - 4
                } else {
                    unknownCount += 1
                }
            case OptionKind.mptcp:
                if size >= 3 { mptcpSubtype = bytes.u8(body) >> 4 } else { malformed = true }
            case OptionKind.md5:
                md5 = true
                if size != 18 { malformed = true }
            case OptionKind.authentication:
                authentication = true
                if size < 4 { malformed = true }
            default:
                unknownCount += 1
            }
            layout.append(kind)
            i += size
        }
    }
}
