import XCTest

@testable import Decode
@testable import Features
@testable import Formatting

final class FeaturesTests: XCTestCase {
    func fingerprint(_ p: PacketBuilder, v6: Bool = false) throws -> Fingerprint {
        let bytes = v6 ? p.ipv6() : p.ipv4()
        return try bytes.withUnsafeBytes { raw in
            let s = try decodedSegment(raw)
            return Fingerprint(s, in: raw)
        }
    }

    func text(_ write: (TextBuffer) -> Void) -> String {
        let buffer = TextBuffer()
        write(buffer)
        return buffer.string
    }

    func testLinuxSYN() throws {
        let fp = try fingerprint(PacketBuilder())
        XCTAssertEqual(fp.initialTTL, 64)
        XCTAssertEqual(fp.distance, 7)
        XCTAssertEqual(fp.options.mss, 1460)
        XCTAssertEqual(fp.options.windowScale, 7)
        XCTAssertTrue(fp.options.sackPermitted)
        XCTAssertEqual(fp.options.timestampValue, 1)
        XCTAssertEqual(fp.options.timestampEcho, 0)
        XCTAssertEqual(fp.quirks, [.dontFragment, .nonZeroIDWithDF])
        XCTAssertEqual(text(fp.writeRawSignature), "4:57+7:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0")
        XCTAssertEqual(text(fp.writeJA4T), "64240_2-4-8-1-3_1460_7")
        XCTAssertEqual(fp.direction, .syn)
    }

    /// p0f divides the window by the MSS less 12 only for a SYN that sends a timestamp.
    func testTheMSSLessTwelveRuleNeedsATimestamp() throws {
        var p = PacketBuilder()
        p.window = 6940  // 5 x (1400 - 12)
        p.options[2...3] = [0x05, 0x78]  // MSS 1400, with Linux's options (timestamp 1)
        XCTAssertEqual(try fingerprint(p).windowForm, .mssMultiple(5))
        p.options = [2, 4, 0x05, 0x78, 1, 1, 1, 4, 2, 1, 1, 0]  // mss,nop,nop,nop,sok,nop,nop,eol
        XCTAssertEqual(try fingerprint(p).windowForm, .value(6940))
        p.options = [2, 4, 0x05, 0x78, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0]  // a timestamp of 0
        XCTAssertEqual(try fingerprint(p).windowForm, .value(6940))
    }

    func testAppleSYNWithECNAndEOLPadding() throws {
        var p = PacketBuilder()
        p.options = PacketBuilder.appleOptions
        p.window = 65535
        p.flags = 0xC2  // SYN+ECE+CWR
        p.ttl = 64
        let fp = try fingerprint(p)
        XCTAssertEqual(fp.options.eolPadding, 1)
        XCTAssertTrue(fp.quirks.contains(.ecn))
        XCTAssertEqual(text(fp.writeLayout), "mss,nop,ws,nop,nop,ts,sok,eol+1")
        XCTAssertEqual(text(fp.writeJA4T), "65535_2-1-3-1-1-8-4-0-0_1460_6")  // FoxIO's published macOS/iOS JA4T
        XCTAssertEqual(text(fp.writeRawSignature), "4:64+0:0:1460:65535,6:mss,nop,ws,nop,nop,ts,sok,eol+1:df,id+,ecn:0")
    }

    func testWindowsJA4TAndNoTimestamps() throws {
        var p = PacketBuilder()
        p.options = PacketBuilder.windowsOptions
        p.ttl = 120
        let fp = try fingerprint(p)
        XCTAssertEqual(fp.initialTTL, 128)
        XCTAssertEqual(text(fp.writeJA4T), "64240_2-1-3-1-1-4_1460_8")
        XCTAssertNil(fp.options.timestampValue)
        XCTAssertFalse(fp.quirks.contains(.zeroOwnTimestamp))
    }

    func testOptionLessSYN() throws {
        var p = PacketBuilder()
        p.options = []
        p.window = 1024
        p.dontFragment = false
        let fp = try fingerprint(p)
        XCTAssertEqual(text(fp.writeJA4T), "1024_00_00_00")
        XCTAssertEqual(text(fp.writeRawSignature), "4:57+7:0:0:1024,0:::0")
    }

    func testEveryOptionKind() throws {
        var p = PacketBuilder()
        p.options =
            [
                5, 10, 0, 0, 0, 1, 0, 0, 0, 2,  // SACK, one block
                34, 6, 1, 2, 3, 4,  // TFO, 4-byte cookie
                30, 4, 0x00, 0x81,  // MPTCP MP_CAPABLE
                19, 18,
            ] + [UInt8](repeating: 0, count: 16)  // MD5
        var fp = try fingerprint(p)
        XCTAssertEqual(fp.options.sackBlocks, 1)
        XCTAssertEqual(fp.options.fastOpenCookieLength, 4)
        XCTAssertEqual(fp.options.mptcpSubtype, 0)
        XCTAssertTrue(fp.options.md5)
        XCTAssertFalse(fp.quirks.contains(.malformedOptions))
        XCTAssertEqual(text(fp.writeLayout), "sack,?34,?30,?19,eol+1")  // 38 bytes, padded to 40

        p.options = [254, 6, 0xF9, 0x89, 0xAA, 0xBB, 29, 4, 1, 1, 99, 2]  // experimental TFO, TCP-AO, unknown kind 99
        fp = try fingerprint(p)
        XCTAssertEqual(fp.options.fastOpenCookieLength, 2)
        XCTAssertTrue(fp.options.authentication)
        XCTAssertEqual(fp.options.unknownCount, 1)
    }

    func testMalformedOptionLengths() throws {
        for options: [UInt8] in [[2, 0, 5, 0xB4], [2, 1, 5, 0xB4], [2, 40, 5, 0xB4], [3, 4, 7, 0], [8]] {
            var p = PacketBuilder()
            p.options = options
            let fp = try fingerprint(p)
            XCTAssertTrue(fp.quirks.contains(.malformedOptions), "\(options)")
        }
    }

    func testDataAfterEOLAndExcessiveScale() throws {
        var p = PacketBuilder()
        p.options = [3, 3, 15, 0, 0, 7, 0, 0]
        let fp = try fingerprint(p)
        XCTAssertTrue(fp.quirks.contains(.dataAfterEOL))
        XCTAssertTrue(fp.quirks.contains(.excessiveWindowScale))
        XCTAssertEqual(fp.options.eolPadding, 4)
    }

    func testHeaderQuirks() throws {
        var p = PacketBuilder()
        p.dontFragment = false
        p.ipID = 0
        p.sequence = 0
        p.acknowledgment = 77
        p.urgentPointer = 5
        p.flags = 0x02 | 0x08
        p.options = [8, 10, 0, 0, 0, 0, 0, 0, 0, 9]
        let fp = try fingerprint(p)
        let expected: Quirks = [
            .zeroIDWithoutDF, .zeroSequence, .ackNumberWithoutFlag, .urgentPointerWithoutFlag,
            .pushFlag, .zeroOwnTimestamp, .peerTimestampInSYN,
        ]
        XCTAssertEqual(fp.quirks, expected)
        XCTAssertEqual(text { fp.quirks.write(to: $0) }, "id-,seq-,ack+,uptr+,pushf+,ts1-,ts2+")
    }

    func testIPv6FlowLabelAndSynAck() throws {
        var p = PacketBuilder()
        p.flags = 0x12
        p.acknowledgment = 1
        let bytes = p.ipv6(flowLabel: 7)
        let fp = try bytes.withUnsafeBytes { raw -> Fingerprint in
            let s = try decodedSegment(raw)
            return Fingerprint(s, in: raw)
        }
        XCTAssertEqual(fp.direction, .synAck)
        XCTAssertTrue(fp.quirks.contains(.flowLabel))
        XCTAssertTrue(text(fp.writeRawSignature).hasPrefix("6:57+7:0:1460:mss*44,7:"))
    }

    func testInitialTTLBuckets() {
        XCTAssertEqual(Fingerprint.initialTTL(for: 1), 32)
        XCTAssertEqual(Fingerprint.initialTTL(for: 33), 64)
        XCTAssertEqual(Fingerprint.initialTTL(for: 64), 64)
        XCTAssertEqual(Fingerprint.initialTTL(for: 65), 128)
        XCTAssertEqual(Fingerprint.initialTTL(for: 129), 255)
    }
}
