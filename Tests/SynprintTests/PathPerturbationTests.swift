import XCTest

@testable import Decode
@testable import Features
@testable import Match

/// Every SYN rewritten as a network path would change it, the sender's bytes otherwise kept:
/// more hops (TTL lowered by 1-30), or the MSS clamped by a middlebox (1200-1452, window
/// unchanged). The stack is the same, so the class must be too; and a clamp that the window
/// can reveal (the window was sized from the MSS) must be reported.
final class PathPerturbationTests: XCTestCase {
    static let clamps: [UInt16] = [1200, 1300, 1380, 1400, 1412, 1452]

    func testRealLinuxSynsKeepTheirClassAcrossPaths() throws {
        try check(fixture("linux-paths.pcap"), minimumKept: 1.0)
    }

    /// Android's and older Linux kernels' settings on a real kernel: Android's 65535 windows
    /// reveal no clamp, so fewer clamps are there to report.
    func testStackSettingsKeepTheirClassAcrossPaths() throws {
        try check(fixture("stack-settings.pcap"), minimumKept: 1.0, minimumSyns: 30, minimumRevealed: 15)
    }

    func testDevSynsKeepTheirClassAcrossPaths() throws {
        let url = try devDataOrSkip("dev_syns.pcap")
        try check(url, minimumKept: 0.99)
    }

    func check(_ url: URL, minimumKept: Double, minimumSyns: Int = 51, minimumRevealed: Int = 21) throws {
        let matcher = Matcher(database: try shippedDatabase())
        let capture = try packets(of: url)
        var syns = 0, keptHops = 0, keptClamp = 0, revealed = 0, reported = 0
        for (index, packet) in capture.packets.enumerated() {
            guard let original = fingerprint(packet.bytes, capture.link), original.direction == .syn else { continue }
            syns += 1
            let (before, _) = matcher.match(original)
            var hops = packet.bytes
            try rewrite(&hops, capture.link, lowerTTLBy: UInt8(1 + index % 30), clampMSSTo: nil)
            let (afterHops, _) = matcher.match(try XCTUnwrap(fingerprint(hops, capture.link)))
            if afterHops.osClass == before.osClass { keptHops += 1 }
            var clamped = packet.bytes
            let clamp = PathPerturbationTests.clamps[index % PathPerturbationTests.clamps.count]
            guard try rewrite(&clamped, capture.link, lowerTTLBy: 0, clampMSSTo: clamp) else {
                keptClamp += 1  // an MSS at or below the clamp is left as it was
                continue
            }
            let (afterClamp, path) = matcher.match(try XCTUnwrap(fingerprint(clamped, capture.link)))
            if afterClamp.osClass == before.osClass { keptClamp += 1 }
            if sizedFromItsMSS(original) {
                revealed += 1
                if path.clamped { reported += 1 }
            }
        }
        XCTAssertGreaterThanOrEqual(syns, minimumSyns)
        XCTAssertGreaterThanOrEqual(Double(keptHops) / Double(syns), minimumKept, "\(keptHops) of \(syns) kept their class with more hops")
        XCTAssertGreaterThanOrEqual(Double(keptClamp) / Double(syns), minimumKept, "\(keptClamp) of \(syns) kept their class when clamped")
        XCTAssertGreaterThanOrEqual(revealed, minimumRevealed)
        XCTAssertGreaterThanOrEqual(Double(reported) / Double(revealed), minimumKept, "\(reported) of \(revealed) clamps reported")
    }

    /// A window of four or more segments of its own MSS, or the largest multiple under 65535:
    /// clamping the MSS leaves such a window behind as evidence.
    func sizedFromItsMSS(_ fp: Fingerprint) -> Bool {
        guard let mss = fp.options.mss.map(Int.init), mss > 0, mss < 8000 else { return false }
        let window = Int(fp.segment.window)
        return (window % mss == 0 && window / mss >= 4) || window == WindowRule.fitWindow(mss: mss)
    }

    func fingerprint(_ bytes: [UInt8], _ link: LinkType) -> Fingerprint? {
        bytes.withUnsafeBytes { raw in
            guard case .tcp(let segment) = PacketDecoder.decode(raw, link: link) else { return nil }
            guard segment.isSYN else { return nil }
            return Fingerprint(segment, in: raw)
        }
    }

    /// Lowers the TTL (hop limit) and clamps the MSS option in place; true when the MSS changed.
    @discardableResult
    func rewrite(_ bytes: inout [UInt8], _ link: LinkType, lowerTTLBy hops: UInt8, clampMSSTo clamp: UInt16?) throws -> Bool {
        let (segment, ipOffset) = try bytes.withUnsafeBytes { raw -> (TCPSegment, Int) in
            let segment = try decodedSegment(raw, link: link)
            return (segment, ipStart(raw, link))
        }
        let ttlOffset = ipOffset + (segment.ip.version == 4 ? 8 : 7)
        bytes[ttlOffset] = bytes[ttlOffset] > hops ? bytes[ttlOffset] - hops : 1
        guard let clamp else { return false }
        var offset = segment.tcpOffset + 20
        let end = segment.tcpOffset + segment.headerLength
        while offset + 1 < end {
            switch bytes[offset] {
            case OptionKind.eol: return false
            case OptionKind.nop: offset += 1
            default:
                let length = Int(bytes[offset + 1])
                guard length >= 2 else { return false }
                if bytes[offset] == OptionKind.mss, length == 4 {
                    let mss = UInt16(bytes[offset + 2]) << 8 | UInt16(bytes[offset + 3])
                    guard mss > clamp else { return false }
                    bytes[offset + 2] = UInt8(clamp >> 8)
                    bytes[offset + 3] = UInt8(clamp & 0xFF)
                    return true
                }
                offset += length
            }
        }
        return false
    }

    /// Where the IP header starts for the link types the captures use.
    func ipStart(_ raw: UnsafeRawBufferPointer, _ link: LinkType) -> Int {
        switch link {
        case .ethernet:
            var offset = 12
            while [0x8100, 0x88A8, 0x9100].contains(raw.u16(offset)) { offset += 4 }
            return offset + 2
        case .linuxCooked: return 16
        case .linuxCooked2: return 20
        case .bsdNull, .bsdLoop: return 4
        case .rawIP, .ipv4, .ipv6: return 0
        }
    }
}
