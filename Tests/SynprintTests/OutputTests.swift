import XCTest

@testable import Decode
@testable import Features
@testable import Formatting
@testable import Match
@testable import Output

final class OutputTests: XCTestCase {
    func text(_ write: (TextBuffer) -> Void) -> String {
        let buffer = TextBuffer()
        write(buffer)
        return buffer.string
    }

    func testIPv6TextFollowsRFC5952() {
        let cases = ["2001:db8::1", "::1", "::", "fe80::1:0:0:1", "2001:db8:0:1:1:1:1:1", "1::", "2001:0:0:1::1"]
        for address in cases {
            XCTAssertEqual(text { $0.append(ip: IPAddress(address)!) }, address)
        }
        XCTAssertEqual(text { $0.append(ip: IPAddress("10.0.0.255")!) }, "10.0.0.255")
    }

    func testTimestamps() {
        XCTAssertEqual(text { $0.appendTimestamp(seconds: 0, microseconds: 5) }, "1970-01-01T00:00:00.000005Z")
        XCTAssertEqual(text { $0.appendTimestamp(seconds: 1_700_000_000, microseconds: 123_456) }, "2023-11-14T22:13:20.123456Z")
        XCTAssertEqual(text { $0.appendTimestamp(seconds: 951_782_400, microseconds: 0) }, "2000-02-29T00:00:00.000000Z")
    }

    /// p0f log values and database labels reach lines as they are only when they are safe: a
    /// `|` would end a field, control characters (C0, DEL, C1) would reach the terminal.
    func testP0fFieldsAndLabelsCannotBreakALine() throws {
        let out = TextBuffer(capacity: 64)
        P0fLogFormat.appendField("a|b\u{9b}31m\u{85}c\u{7f}\u{1b}", to: out)
        XCTAssertEqual(out.string, "a?b\\x9b31m\\x85c\\x7f\\x1b")
        let entry = try XCTUnwrap(
            try String(contentsOf: repositoryRoot.appendingPathComponent("database/synprint.db.jsonl"), encoding: .utf8)
                .split(separator: "\n").first { $0.hasPrefix("{\"id\": \"windows-10-11\"") })
        for bad in ["Windows\\u001b[31m", "Windows\\u0085", "Win|dows"] {
            let text = "{\"synprint_db\": 1}\n" + entry.replacingOccurrences(of: "\"name\": \"Windows\"", with: "\"name\": \"\(bad)\"")
            XCTAssertThrowsError(try Database.parse(text, file: "x.jsonl")) {
                XCTAssertTrue("\($0)".contains("field 'name': control characters and '|' cannot go into output lines"), "\($0)")
            }
        }
        let p0f = "[tcp:request]\nlabel = s:unix:Linux\u{1b}]0;x\u{07}:3.x\nsig = *:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0\n"
        XCTAssertThrowsError(try P0fImport.convert(p0f, file: "p0f.fp")) {
            XCTAssertTrue("\($0)".contains("control characters and '|'"), "\($0)")
        }
    }

    func testIntegersAndEscapes() {
        XCTAssertEqual(
            text {
                $0.append(UInt8(7)); $0.append(-42); $0.append(UInt32.max)
            }, "7-424294967295")
        XCTAssertEqual(text { $0.appendJSONString("a\"b\\c\nd\u{1}") }, #""a\"b\\c\nd\u0001""#)
        XCTAssertEqual(text { $0.appendJSONString("") }, #""""#)
        XCTAssertEqual(text { $0.appendJSONString("\"") }, #""\"""#)
        XCTAssertEqual(text { $0.appendJSONString("Mozilla/5.0 (X11; Linux x86_64) é") }, #""Mozilla/5.0 (X11; Linux x86_64) é""#)
    }

    /// Every digit-count boundary of the decimal writer, and every hex length, against Swift's own text.
    func testDecimalAndHexBoundaries() {
        var values: [UInt64] = [0, 9, 10, 99, 100, UInt64.max]
        var power: UInt64 = 1
        for _ in 0..<19 {
            power *= 10
            values += [power - 1, power, power + 1]
        }
        for value in values {
            XCTAssertEqual(text { $0.append(value) }, String(value))
        }
        for value: UInt16 in [0, 1, 0xf, 0x10, 0xff, 0x100, 0xfff, 0x1000, 0xffff] {
            XCTAssertEqual(text { $0.appendHex(value) }, String(value, radix: 16))
        }
    }

    /// Short literal copies take a word-move path; lengths around its edges must come out whole.
    func testLiteralsOfEveryShortLength() {
        XCTAssertEqual(
            text {
                $0.append("abc"); $0.append("defg"); $0.append("hijklmn"); $0.append("opqrstuv")
            },
            "abcdefghijklmnopqrstuv")
        XCTAssertEqual(
            text {
                $0.append("0123456789abcdef"); $0.append("0123456789abcdefg")
            },
            "0123456789abcdef0123456789abcdefg")
    }

    func testJSONEventParses() throws {
        let bytes = PacketBuilder().ipv4()
        let line: String = try bytes.withUnsafeBytes { raw in
            let s = try decodedSegment(raw)
            let out = TextBuffer()
            EventWriter(format: .json, database: nil, labels: EventLabels(sensor: "s1")).write(
                SynObservation(seconds: 1_700_000_000, microseconds: 1, fingerprint: Fingerprint(s, in: raw)), to: out)
            return out.string
        }
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(object["type"] as? String, "syn")
        XCTAssertEqual(object["src_ip"] as? String, "10.0.0.3")
        XCTAssertEqual(object["dst_port"] as? Int, 443)
        XCTAssertEqual(object["mss"] as? Int, 1460)
        XCTAssertEqual(object["window_multiple"] as? String, "mss*44")
        XCTAssertEqual(object["quirks"] as? [String], ["df", "id+"])
        XCTAssertEqual(object["ja4t"] as? String, "64240_2-4-8-1-3_1460_7")
        XCTAssertTrue(object["ts_val"] is Int)
        XCTAssertTrue(object["tfo_cookie_length"] is NSNull)
    }

    /// A SYN without options says so in the text block, rather than leaving the line empty.
    func testTextOfASynWithoutOptions() throws {
        for (options, expected) in [
            ([UInt8](), "| options  = none\n"), (PacketBuilder.windowsOptions, "| options  = mss,nop,ws,nop,nop,sok"),
        ] {
            var packet = PacketBuilder()
            packet.options = options
            let text: String = try packet.ipv4().withUnsafeBytes { raw in
                let out = TextBuffer()
                EventWriter(format: .text, database: nil, labels: EventLabels(sensor: "s1")).write(
                    SynObservation(seconds: 1_700_000_000, microseconds: 1, fingerprint: Fingerprint(try decodedSegment(raw), in: raw)),
                    to: out)
                return out.string
            }
            XCTAssertTrue(text.contains(expected), text)
        }
    }
}

final class TimestampCacheTests: XCTestCase {
    func testRepeatedAndChangingSecondsStayCorrect() {
        let buffer = TextBuffer()
        for (seconds, micros) in [(1_700_000_000, 1), (1_700_000_000, 999_999), (1_700_000_001, 0), (86_399, 5), (1_700_000_001, 7)] {
            buffer.appendTimestamp(seconds: seconds, microseconds: micros)
            buffer.append(ascii: " ")
        }
        XCTAssertEqual(
            buffer.string,
            "2023-11-14T22:13:20.000001Z 2023-11-14T22:13:20.999999Z 2023-11-14T22:13:21.000000Z "
                + "1970-01-01T23:59:59.000005Z 2023-11-14T22:13:21.000007Z ")
    }
}
