import XCTest

@testable import Decode

final class DecodeTests: XCTestCase {
    func decode(_ bytes: [UInt8], _ link: LinkType) -> DecodeOutcome {
        bytes.withUnsafeBytes { PacketDecoder.decode($0, link: link) }
    }

    func segment(_ bytes: [UInt8], _ link: LinkType, file: StaticString = #filePath, line: UInt = #line) -> TCPSegment? {
        guard case .tcp(let s) = decode(bytes, link) else {
            XCTFail("expected a TCP segment, got \(decode(bytes, link))", file: file, line: line)
            return nil
        }
        return s
    }

    func testEthernetIPv4() throws {
        let p = PacketBuilder()
        let s = try XCTUnwrap(segment(PacketBuilder.ethernet(p.ipv4()), .ethernet))
        XCTAssertEqual(s.ip.version, 4)
        XCTAssertEqual(s.ip.source, IPAddress("10.0.0.3"))
        XCTAssertEqual(s.ip.destination, IPAddress("10.0.0.1"))
        XCTAssertEqual(s.sourcePort, 50000)
        XCTAssertEqual(s.destinationPort, 443)
        XCTAssertEqual(s.ip.ttl, 57)
        XCTAssertTrue(s.ip.dontFragment)
        XCTAssertEqual(s.ip.ipID, 0x1234)
        XCTAssertEqual(s.window, 64240)
        XCTAssertEqual(s.headerLength, 40)
        XCTAssertTrue(s.isSYN)
        XCTAssertEqual(s.tcpOffset, 34)
    }

    func testVLANAndQinQ() throws {
        let ip = PacketBuilder().ipv4()
        XCTAssertEqual(segment(PacketBuilder.ethernet(ip, vlanTags: [100]), .ethernet)?.tcpOffset, 38)
        XCTAssertEqual(segment(PacketBuilder.ethernet(ip, vlanTags: [10, 20]), .ethernet)?.tcpOffset, 42)
    }

    func testLinuxCookedV1AndV2() throws {
        let ip = PacketBuilder().ipv4()
        let sll: [UInt8] = [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00]
        XCTAssertEqual(segment(sll + ip, .linuxCooked)?.sourcePort, 50000)
        let sll2: [UInt8] = [0x86, 0xDD, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]
        XCTAssertEqual(segment(sll2 + PacketBuilder().ipv6(), .linuxCooked2)?.ip.version, 6)
    }

    func testRawAndLoopback() throws {
        let v4 = PacketBuilder().ipv4(), v6 = PacketBuilder().ipv6()
        XCTAssertEqual(segment(v4, .rawIP)?.ip.version, 4)
        XCTAssertEqual(segment(v6, .rawIP)?.ip.version, 6)
        XCTAssertEqual(segment(v4, .ipv4)?.ip.version, 4)
        XCTAssertEqual(segment(v6, .ipv6)?.ip.version, 6)
        XCTAssertEqual(segment([2, 0, 0, 0] + v4, .bsdNull)?.ip.version, 4)  // little-endian writer
        XCTAssertEqual(segment([0, 0, 0, 2] + v4, .bsdNull)?.ip.version, 4)  // big-endian writer
        XCTAssertEqual(segment([0, 0, 0, 30] + v6, .bsdLoop)?.ip.version, 6)
    }

    func testIPv4OptionsAreSkippedAndMeasured() throws {
        var p = PacketBuilder()
        p.ipOptions = [0x94, 4, 0, 0]  // router alert
        let s = try XCTUnwrap(segment(PacketBuilder.ethernet(p.ipv4()), .ethernet))
        XCTAssertEqual(s.ip.optionsLength, 4)
        XCTAssertEqual(s.tcpOffset, 14 + 24)
        XCTAssertEqual(s.sourcePort, 50000)
    }

    func testIPv6ExtensionChain() throws {
        let hopByHop: [UInt8] = [0, 0, 1, 4, 0, 0, 0, 0]
        let routing: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0]
        let destination: [UInt8] = [0, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        let fragment: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 7]  // offset 0, first fragment
        let p = PacketBuilder()
        let ip = p.ipv6(extensions: [(0, hopByHop), (43, routing), (60, destination), (44, fragment)], flowLabel: 0xABCDE)
        let s = try XCTUnwrap(segment(PacketBuilder.ethernet(ip, etherType: 0x86DD), .ethernet))
        XCTAssertEqual(s.ip.optionsLength, 40)
        XCTAssertEqual(s.ip.flowLabel, 0xABCDE)
        XCTAssertEqual(s.destinationPort, 443)
        XCTAssertEqual(s.ip.ttl, 57)
    }

    func testFragmentsAndOtherProtocolsAreSkipped() {
        let p = PacketBuilder()
        guard case .skipped(.fragment) = decode(p.ipv4(fragmentOffset: 100), .rawIP) else { return XCTFail() }
        let laterFragment: [UInt8] = [0, 0, 0x03, 0x20, 0, 0, 0, 7]
        guard case .skipped(.fragment) = decode(p.ipv6(extensions: [(44, laterFragment)]), .rawIP) else { return XCTFail() }
        guard case .skipped(.notTCP) = decode(p.ipv4(protocolNumber: 17), .rawIP) else { return XCTFail() }
        guard case .skipped(.notIP) = decode(PacketBuilder.ethernet([0, 1, 8, 0], etherType: 0x0806), .ethernet) else { return XCTFail() }
        // The first fragment still carries the TCP header and is decoded.
        guard case .tcp = decode(p.ipv4(moreFragments: true), .rawIP) else { return XCTFail() }
    }

    func testMalformedHeadersAreReportedNotRead() {
        let ip = PacketBuilder().ipv4()
        let cases: [([UInt8], LinkType, MalformedReason)] = [
            ([], .ethernet, .truncatedLink),
            (Array(PacketBuilder.ethernet(ip).prefix(10)), .ethernet, .truncatedLink),
            (Array(ip.prefix(12)), .rawIP, .truncatedIP),
            ([0x70] + ip.dropFirst(), .rawIP, .badIPHeader),  // version 7
            ([0x43] + ip.dropFirst(), .ipv4, .badIPHeader),  // IHL 3
            (Array(([0x4F] + ip.dropFirst()).prefix(40)), .ipv4, .truncatedIP),  // IHL 15 past the bytes
            (Array(ip.prefix(30)), .rawIP, .snaplenCut),  // cut inside TCP
            (Array(ip.prefix(45)), .rawIP, .snaplenCut),  // cut inside options
        ]
        for (bytes, link, reason) in cases {
            guard case .malformed(let got) = decode(bytes, link) else { XCTFail("\(reason): decoded"); continue }
            XCTAssertEqual(got, reason)
        }
    }

    func testTCPDataOffsetOutOfRange() {
        var ip = PacketBuilder().ipv4()
        ip[20 + 12] = 0x40  // offset 4 words: below the minimum
        guard case .malformed(.badTCPOffset) = decode(ip, .rawIP) else { return XCTFail() }
        ip[20 + 12] = 0xF0  // 60 bytes: beyond a 40-byte segment
        guard case .malformed(.badTCPOffset) = decode(ip, .rawIP) else { return XCTFail() }
        var v6 = PacketBuilder().ipv6()
        v6[6] = 0  // hop-by-hop claimed, but its length runs past the packet
        v6[40 + 1] = 200
        guard case .malformed(.badIPv6Extension) = decode(v6, .rawIP) else { return XCTFail() }
    }

    /// Random bytes (seeded: a failure repeats) of every length up to 120 on every link type:
    /// each decodes to a segment whose offsets lie inside the buffer, or to a counted reason.
    func testZeroLengthAndRandomBytesStayInBounds() {
        var rng = SplitMix64(seed: 0x5EED_5EED)
        var outcomes = [String: Int]()
        for link in [LinkType.ethernet, .linuxCooked, .linuxCooked2, .rawIP, .bsdNull, .bsdLoop] {
            for length in 0..<120 {
                for _ in 0..<40 {
                    var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    if length > 0, link == .rawIP { bytes[0] = rng.next() & 1 == 0 ? 0x45 : 0x60 }  // reach the IP paths too
                    let outcome = decode(bytes, link)
                    switch outcome {
                    case .tcp(let s):
                        XCTAssertLessThanOrEqual(s.tcpOffset + s.headerLength, bytes.count, "\(link) \(bytes)")
                        outcomes["tcp", default: 0] += 1
                    case .skipped(let reason): outcomes[reason.name, default: 0] += 1
                    case .malformed(let reason): outcomes[reason.name, default: 0] += 1
                    }
                }
            }
        }
        XCTAssertEqual(outcomes.values.reduce(0, +), 6 * 120 * 40)
        XCTAssertGreaterThan(outcomes["truncated_link_header"] ?? 0, 0)
        XCTAssertGreaterThan(outcomes["bad_ip_header"] ?? 0, 0)
    }

    func testAddressParsing() {
        XCTAssertEqual(IPAddress("192.168.1.2")?.v4, 0xC0A80102)
        XCTAssertEqual(IPAddress("2001:db8::1")?.high, 0x20010DB8_00000000)
        XCTAssertEqual(IPAddress("2001:db8::1")?.low, 1)
        XCTAssertNil(IPAddress("300.1.1.1"))
        XCTAssertNil(IPAddress("not an address"))
    }
}
