/// Decodes link, IP and the fixed TCP header in place. Never allocates, never reads past
/// `bytes.count`; anything it cannot make sense of becomes a counted `MalformedReason`.
public enum PacketDecoder {
    /// `bytes` holds the captured part of one packet, starting at the link header.
    public static func decode(_ bytes: UnsafeRawBufferPointer, link: LinkType) -> DecodeOutcome {
        switch link {
        case .ethernet:
            guard bytes.count >= 14 else { return .malformed(.truncatedLink) }
            var offset = 12
            var etherType = bytes.u16(offset)
            // 802.1Q, 802.1ad and the older 0x9100 QinQ tag: skip each 4-byte tag.
            while etherType == 0x8100 || etherType == 0x88A8 || etherType == 0x9100 {
                offset += 4
                guard bytes.count >= offset + 2 else { return .malformed(.truncatedLink) }
                etherType = bytes.u16(offset)
            }
            return decodeEtherType(etherType, bytes, at: offset + 2)
        case .linuxCooked:
            guard bytes.count >= 16 else { return .malformed(.truncatedLink) }
            return decodeEtherType(bytes.u16(14), bytes, at: 16)
        case .linuxCooked2:
            guard bytes.count >= 20 else { return .malformed(.truncatedLink) }
            return decodeEtherType(bytes.u16(0), bytes, at: 20)
        case .rawIP:
            guard bytes.count >= 1 else { return .malformed(.truncatedLink) }
            switch bytes.u8(0) >> 4 {
            case 4: return decodeIPv4(bytes, at: 0)
            case 6: return decodeIPv6(bytes, at: 0)
            default: return .malformed(.badIPHeader)
            }
        case .ipv4:
            return decodeIPv4(bytes, at: 0)
        case .ipv6:
            return decodeIPv6(bytes, at: 0)
        case .bsdNull, .bsdLoop:
            guard bytes.count >= 4 else { return .malformed(.truncatedLink) }
            let raw = bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
            // NULL is in the writer's byte order, which we do not know: accept either.
            let family = link == .bsdLoop ? UInt32(bigEndian: raw) : (raw > 0xFFFF ? raw.byteSwapped : raw)
            switch family {
            case 2: return decodeIPv4(bytes, at: 4)
            case 10, 24, 28, 30: return decodeIPv6(bytes, at: 4)  // AF_INET6 on Linux, BSDs, macOS
            default: return .skipped(.notIP)
            }
        }
    }

    static func decodeEtherType(_ etherType: UInt16, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> DecodeOutcome {
        switch etherType {
        case 0x0800: return decodeIPv4(bytes, at: offset)
        case 0x86DD: return decodeIPv6(bytes, at: offset)
        default: return .skipped(.notIP)
        }
    }

    static func decodeIPv4(_ bytes: UnsafeRawBufferPointer, at ip: Int) -> DecodeOutcome {
        guard bytes.count >= ip + 20 else { return .malformed(.truncatedIP) }
        let versionIHL = bytes.u8(ip)
        let headerLength = Int(versionIHL & 0x0F) * 4
        guard versionIHL >> 4 == 4, headerLength >= 20 else { return .malformed(.badIPHeader) }
        let totalLength = Int(bytes.u16(ip + 2))
        guard totalLength >= headerLength else { return .malformed(.badIPHeader) }
        guard bytes.count >= ip + headerLength else { return .malformed(.truncatedIP) }
        let fragment = bytes.u16(ip + 6)
        guard fragment & 0x1FFF == 0 else { return .skipped(.fragment) }
        guard bytes.u8(ip + 9) == 6 else { return .skipped(.notTCP) }
        let header = IPHeader(
            version: 4,
            source: IPAddress(v4: bytes.u32(ip + 12)),
            destination: IPAddress(v4: bytes.u32(ip + 16)),
            ttl: bytes.u8(ip + 8),
            tos: bytes.u8(ip + 1),
            dontFragment: fragment & 0x4000 != 0,
            reservedBit: fragment & 0x8000 != 0,
            ipID: bytes.u16(ip + 4),
            flowLabel: 0,
            totalLength: totalLength,
            optionsLength: headerLength - 20)
        return decodeTCP(bytes, at: ip + headerLength, segmentEnd: ip + totalLength, ip: header)
    }

    static func decodeIPv6(_ bytes: UnsafeRawBufferPointer, at ip: Int) -> DecodeOutcome {
        guard bytes.count >= ip + 40 else { return .malformed(.truncatedIP) }
        let first = bytes.u32(ip)
        guard first >> 28 == 6 else { return .malformed(.badIPHeader) }
        let payloadLength = Int(bytes.u16(ip + 4))
        var next = bytes.u8(ip + 6)
        var offset = ip + 40
        let end = ip + 40 + payloadLength
        // Walk the extension header chain up to TCP.
        while next != 6 {
            switch next {
            case IPv6Extension.hopByHop, IPv6Extension.routing, IPv6Extension.destination,
                IPv6Extension.mobility, IPv6Extension.hip, IPv6Extension.shim6:
                guard bytes.count >= offset + 2 else { return .malformed(.badIPv6Extension) }
                next = bytes.u8(offset)
                offset += (Int(bytes.u8(offset + 1)) + 1) * 8
            case IPv6Extension.fragment:
                guard bytes.count >= offset + 8 else { return .malformed(.badIPv6Extension) }
                guard bytes.u16(offset + 2) & 0xFFF8 == 0 else { return .skipped(.fragment) }
                next = bytes.u8(offset)
                offset += 8
            case IPv6Extension.authentication:  // length in 4-byte units, minus 2
                guard bytes.count >= offset + 2 else { return .malformed(.badIPv6Extension) }
                next = bytes.u8(offset)
                offset += (Int(bytes.u8(offset + 1)) + 2) * 4
            default:
                return .skipped(.notTCP)
            }
            guard offset <= end, offset <= bytes.count else { return .malformed(.badIPv6Extension) }
        }
        let header = IPHeader(
            version: 6,
            source: IPAddress(v6High: bytes.u64(ip + 8), v6Low: bytes.u64(ip + 16)),
            destination: IPAddress(v6High: bytes.u64(ip + 24), v6Low: bytes.u64(ip + 32)),
            ttl: bytes.u8(ip + 7),
            tos: UInt8(truncatingIfNeeded: first >> 20),
            dontFragment: false,
            reservedBit: false,
            ipID: 0,
            flowLabel: first & 0xFFFFF,
            totalLength: payloadLength + 40,
            optionsLength: offset - ip - 40)
        return decodeTCP(bytes, at: offset, segmentEnd: end, ip: header)
    }

    static func decodeTCP(_ bytes: UnsafeRawBufferPointer, at tcp: Int, segmentEnd: Int, ip: IPHeader) -> DecodeOutcome {
        // The segment must hold a fixed header by the IP length; the capture may hold less.
        guard segmentEnd >= tcp + 20 else { return .malformed(.badTCPOffset) }
        guard bytes.count >= tcp + 20 else { return .malformed(.snaplenCut) }
        let offsetFlags = bytes.u16(tcp + 12)
        let headerLength = Int(offsetFlags >> 12) * 4
        guard headerLength >= 20, tcp + headerLength <= segmentEnd else { return .malformed(.badTCPOffset) }
        guard bytes.count >= tcp + headerLength else { return .malformed(.snaplenCut) }
        let payloadStart = tcp + headerLength
        return .tcp(
            TCPSegment(
                ip: ip,
                tcpOffset: tcp,
                sourcePort: bytes.u16(tcp),
                destinationPort: bytes.u16(tcp + 2),
                sequence: bytes.u32(tcp + 4),
                acknowledgment: bytes.u32(tcp + 8),
                headerLength: headerLength,
                flags: TCPFlags(rawValue: offsetFlags & 0x0FFF),
                window: bytes.u16(tcp + 14),
                urgentPointer: bytes.u16(tcp + 18),
                payloadLength: segmentEnd - payloadStart))
    }
}
