import XCTest

@testable import Decode
@testable import Features
@testable import Match

final class MatchTests: XCTestCase {
    /// The inline arrays kept per OS class and family have one slot per case.
    func testPerClassAndFamilyArraysHaveOneSlotPerCase() {
        XCTAssertEqual(PerOSClass<Int>.count, OSClass.allCases.count)
        XCTAssertEqual(PerOSFamily<Int>.count, OSFamily.allCases.count)
    }

    static let header = "{\"synprint_db\": 1}\n"

    func entryLine(_ fields: [String: String]) -> String {
        var base: [String: String] = [
            "id": "\"t\"", "packet": "\"syn\"", "class": "\"Linux\"", "name": "\"Linux\"", "ttl": "64",
            "window": "\"mss*44\"", "scale": "7", "layout": "\"mss,sok,ts,nop,ws\"",
        ]
        base.merge(fields) { $1 }
        return "{" + base.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ") + "}"
    }

    func fingerprint(_ p: PacketBuilder) throws -> Fingerprint {
        try p.ipv4().withUnsafeBytes { raw in
            let s = try decodedSegment(raw)
            return Fingerprint(s, in: raw)
        }
    }

    func matcher(_ lines: [String]) throws -> Matcher {
        Matcher(database: try Database.parse(MatchTests.header + lines.joined(separator: "\n"), file: "test.db"))
    }

    // MARK: database loading

    /// A list holds the stack's default first and its variants after; ranges and `mss*fit` read and write back.
    func testListsRangesAndTheFitRule() throws {
        let db = try Database.parse(
            MatchTests.header
                + entryLine([
                    "window": "[\"mss*fit\", 65535]", "scale": "[7, \"5-14\"]", "flow": "true",
                    "layout": "[\"mss,sok,ts,nop,ws\", \"mss,nop,nop,sok,nop,ws\"]",
                ]), file: "x.db")
        let e = try XCTUnwrap(db.entries.first)
        XCTAssertEqual(e.windows, Choices([.mssFit, .value(65535)]))
        XCTAssertEqual(e.scales, Choices([ScaleRange(7, 7), ScaleRange(5, 14)]))
        XCTAssertEqual(e.flowLabel, .exactly(true))
        XCTAssertEqual(e.layouts.values.count, 2)
        XCTAssertEqual(EntryWriter.line(try Database.parse(db.serialized(), file: "y.db").entries[0]), EntryWriter.line(e))
        XCTAssertEqual(WindowRule.fitWindow(mss: 1460), 64240)
        XCTAssertEqual(WindowRule.fitWindow(mss: 1380), 64860)
        XCTAssertEqual(WindowRule.fitWindow(mss: 1024), 65535)
        for bad in ["[]", "[\"7-5\"]", "\"x\"", "[7, true]"] {
            XCTAssertThrowsError(try Database.parse(MatchTests.header + entryLine(["scale": bad]), file: "t.db"), bad) {
                XCTAssertTrue("\($0)".hasPrefix("t.db:2: field 'scale'"), "\($0)")
            }
        }
    }

    func testValidEntryLoadsEveryField() throws {
        let db = try Database.parse(
            MatchTests.header + "# comment\n\n"
                + entryLine([
                    "df": "true", "ip_id": "\"nonzero\"", "ecn": "false", "mss": "1460", "quirks": "\"ts2+\"",
                    "counts": "{\"Linux\": 3, \"Android\": 5}", "generic": "true", "ip": "4",
                ]), file: "x.db")
        let e = try XCTUnwrap(db.entries.first)
        XCTAssertEqual(e.line, 4)
        XCTAssertEqual(e.osClass, .linux)
        XCTAssertEqual(e.windows, Choices([.mssMultiple(44)]))
        XCTAssertEqual(e.scales, Choices([ScaleRange(7, 7)]))
        XCTAssertEqual(e.mss, .exactly(1460))
        XCTAssertEqual(e.dontFragment, .exactly(true))
        XCTAssertEqual(e.ipID, .nonZero)
        XCTAssertEqual(e.quirks, .exactly(.peerTimestampInSYN))
        XCTAssertEqual(e.counts, [.linux: 3, .android: 5])
        XCTAssertTrue(e.generic)
        // Writing and reading again gives the same entry.
        let again = try Database.parse(db.serialized(), file: "y.db").entries[0]
        XCTAssertEqual(EntryWriter.line(again), EntryWriter.line(e))
    }

    func testInvalidDatabasesNameFileLineAndField() {
        let cases: [(String, String)] = [
            (entryLine([:]), "test.db:1: missing header"),
            (MatchTests.header + "{not json", "test.db:2: not valid JSON"),
            (MatchTests.header + entryLine([:]) + " {}", "test.db:2: not valid JSON: text after the object"),
            (MatchTests.header + entryLine([:]).replacingOccurrences(of: "}", with: ",}"), "test.db:2: not valid JSON"),
            (MatchTests.header + "[1, 2]", "test.db:2: expected a JSON object"),
            (MatchTests.header + entryLine(["ttl": "64.5"]), "test.db:2: field 'ttl': expected a whole number, found 64.5"),
            (MatchTests.header + entryLine(["counts": "{\"Linux\": -1}"]), "test.db:2: field 'counts'"),
            (MatchTests.header + entryLine(["counts": "{\"Linux\": 9223372036854775807}"]), "test.db:2: field 'counts'"),
            (MatchTests.header + entryLine(["counts": "{\"Linux\": 1e300}"]), "test.db:2: field 'counts'"),
            (MatchTests.header + entryLine(["window": "\"mss*x\""]), "test.db:2: field 'window'"),
            (MatchTests.header + entryLine(["ttl": "100"]), "test.db:2: field 'ttl': expected one of 32, 64, 128, 255"),
            (MatchTests.header + entryLine(["class": "\"Plan9\""]), "test.db:2: field 'class': unknown class"),
            (MatchTests.header + entryLine(["layout": "\"mss,bogus\""]), "test.db:2: field 'layout': unknown option \"bogus\""),
            (MatchTests.header + entryLine(["colour": "1"]), "test.db:2: field 'colour': unknown field"),
            (MatchTests.header + entryLine(["quirks": "\"df\""]), "test.db:2: field 'quirks'"),
            (MatchTests.header + entryLine(["df": "1"]), "test.db:2: field 'df'"),
            (MatchTests.header + "{\"id\": \"l\", \"mtu\": 20, \"link\": \"x\"}", "test.db:2: field 'mtu': expected 68 to 65535"),
            (MatchTests.header + entryLine([:]) + "\n" + entryLine([:]), "test.db:3: field 'id': duplicate id"),
            ("{\"synprint_db\": 9}", "test.db:1: field 'synprint_db': schema version 9"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try Database.parse(text, file: "test.db")) { error in
                XCTAssertTrue("\(error)".hasPrefix(expected), "\(error) ≠ \(expected)")
            }
        }
    }

    func testShippedDatabaseIsValid() throws {
        let db = try Database.load(file: repositoryRoot.appendingPathComponent("database/synprint.db.jsonl").path)
        XCTAssertGreaterThan(db.entries.count, 30)
        let classes = Set(db.entries.map(\.osClass))
        for required: OSClass in [.windows, .linux, .android, .macOS, .iOS, .freeBSD, .openBSD, .netBSD, .solaris, .zmap, .masscan, .nmap] {
            XCTAssertTrue(classes.contains(required), "no entry for \(required.name)")
        }
        XCTAssertTrue(db.entries.contains { $0.direction == .synAck })
    }

    // MARK: p0f import

    func testP0fImport() throws {
        let sample = """
            ; comment
            [tcp:request]
            label = s:unix:Linux:3.11 and newer
            sys   = Linux
            sig   = *:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0
            label = g:win:Windows:7 or 8
            sig   = *:128:0:*:8192,2:mss,nop,ws,nop,nop,sok:df,id+:0
            [tcp:response]
            label = s:unix:FreeBSD:9.x
            sig   = 4:64-:0:1460:65535,6:mss,nop,ws,sok,ts:df,id+,ts2+:0
            [mtu]
            label = Ethernet or modem
            sig   = 1500
            """
        let result = try P0fImport.convert(sample, file: "p0f.fp")
        let e = result.database.entries
        XCTAssertEqual(e.count, 3)
        XCTAssertEqual(e[0].osClass, .linux)
        XCTAssertEqual(e[0].flavor, "3.11 and newer")
        XCTAssertEqual(e[0].windows, Choices([.mssMultiple(20)]))
        XCTAssertEqual(e[0].scales, Choices([ScaleRange(10, 10)]))
        XCTAssertEqual(e[0].ipID, .nonZero)
        XCTAssertEqual(e[0].provenance, .imported)
        XCTAssertTrue(e[1].generic)
        XCTAssertEqual(e[1].osClass, .windows)
        XCTAssertEqual(e[2].direction, .synAck)
        XCTAssertEqual(e[2].ipVersion, .exactly(4))
        XCTAssertEqual(e[2].quirks, .exactly(.peerTimestampInSYN))
        XCTAssertEqual(e[2].mss, .exactly(1460))
        XCTAssertEqual(result.skippedLines, 1)  // sys
        XCTAssertEqual(result.database.links.map(\.mtu), [1500])
        XCTAssertEqual(result.database.links.first?.link, "Ethernet or modem")
        // The converted file loads back with the same entries and links.
        let reloaded = try Database.parse(result.database.serialized(), file: "converted.db")
        XCTAssertEqual(reloaded.entries.count, 3)
        XCTAssertEqual(reloaded.links.map(\.id), ["p0f-mtu-13"])
        XCTAssertEqual(reloaded.links.map(\.link), ["Ethernet or modem"])
        XCTAssertEqual(reloaded.links.map(\.line), [5])  // header, three entries, then the link
        XCTAssertThrowsError(try P0fImport.convert("[tcp:request]\nlabel = s:unix:X:1\nsig = 4:64:0", file: "bad.fp")) {
            XCTAssertTrue("\($0)".hasPrefix("bad.fp:3: field 'sig'"))
        }
    }

    // MARK: matcher rules

    func testTTLToleratesHopsButNotAnotherInitialTTL() throws {
        let m = try matcher([entryLine(["window": "\"*\"", "scale": "\"*\""])])
        var p = PacketBuilder()
        p.ttl = 40
        let near = m.classify(try fingerprint(p))
        p.ttl = 20  // 44 hops below 64: more than any path
        let far = m.classify(try fingerprint(p))
        XCTAssertGreaterThan(near.best[0].score, far.best[0].score)
        XCTAssertEqual(near.osClass, .linux)
    }

    /// The window is judged against the sender's own MSS: a clamped MSS changes nothing.
    func testWindowRulesUseTheSendersMSS() throws {
        let m = try matcher([entryLine(["window": "\"mss*fit\""])])
        var p = PacketBuilder()
        p.options[2...3] = [0x05, 0x64]  // MSS 1380
        p.window = 47 * 1380  // a host on a 1420-byte tunnel link
        let tunnelled = m.classify(try fingerprint(p)).best[0].score
        p.window = 44 * 1460  // sized for 1460, then clamped to 1380 on the way
        let clamped = m.classify(try fingerprint(p)).best[0].score
        p.window = 1000
        let unrelated = m.classify(try fingerprint(p)).best[0].score
        XCTAssertEqual(tunnelled, clamped)
        XCTAssertGreaterThan(clamped, unrelated)
        let (_, path) = m.match(try fingerprint(p))
        XCTAssertFalse(path.clamped)
    }

    /// A variant listed after the default matches, with less credit than the default.
    func testVariantsMatchWithLessCredit() throws {
        let m = try matcher([
            entryLine(["layout": "[\"mss,sok,ts,nop,ws\", \"mss,nop,nop,sok,nop,ws\"]", "window": "\"*\"", "scale": "\"*\""])
        ])
        let normal = m.classify(try fingerprint(PacketBuilder())).best[0].score
        var p = PacketBuilder()
        p.options = [2, 4, 5, 0xB4, 1, 1, 4, 2, 1, 3, 3, 7]  // timestamps off
        let variant = m.classify(try fingerprint(p)).best[0].score
        XCTAssertGreaterThan(normal, variant)
        XCTAssertGreaterThan(variant, normal - 0.1)  // still the same stack
    }

    func testLayoutExactBeatsSameOrderBeatsSameSet() throws {
        let m = try matcher([entryLine(["window": "\"*\"", "scale": "\"*\""])])
        func score(_ options: [UInt8]) throws -> Float {
            var p = PacketBuilder()
            p.options = options
            return m.classify(try fingerprint(p)).best.first?.score ?? 0
        }
        let exact = try score(PacketBuilder.linuxOptions)
        let sameOrder = try score([2, 4, 5, 0xB4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 3, 3, 7, 1])  // nop moved
        let sameSet = try score([2, 4, 5, 0xB4, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0])
        XCTAssertGreaterThan(exact, sameOrder)
        XCTAssertGreaterThan(sameOrder, sameSet)
    }

    func testQuirksCompareAsASet() throws {
        let m = try matcher([entryLine(["quirks": "\"\""])])
        var p = PacketBuilder()
        let clean = m.classify(try fingerprint(p)).best[0].score
        p.flags |= 0x08  // pushf+
        let odd = m.classify(try fingerprint(p)).best[0].score
        XCTAssertGreaterThan(clean, odd)
    }

    func testOptionLessScannerSYNIsNeverAPhone() throws {
        let m = Matcher(database: try Database.load(file: repositoryRoot.appendingPathComponent("database/synprint.db.jsonl").path))
        var p = PacketBuilder()
        p.options = []
        p.window = 8192
        p.dontFragment = false
        let c = m.classify(try fingerprint(p))
        XCTAssertFalse([OSClass.android, .iOS].contains(c.osClass), "\(c.osClass)")
        XCTAssertLessThan(c.confidence, 0.5)
        p.window = 1024
        p.ttl = 250
        p.ipID = 999
        XCTAssertEqual(m.classify(try fingerprint(p)).osClass, .masscan)
    }

    func testLearnedCountsDecideAndConflictsLowerConfidence() throws {
        let m = try matcher([
            entryLine(["id": "\"a\"", "class": "\"Android\"", "counts": "{\"Android\": 500, \"Linux\": 3}"])
        ])
        let c = m.classify(try fingerprint(PacketBuilder()))
        XCTAssertEqual(c.osClass, .android)
        XCTAssertGreaterThan(c.classScores[OSClass.android.rawValue], 0.98)
        let split = try matcher([entryLine(["id": "\"a\"", "class": "\"Android\"", "counts": "{\"Android\": 50, \"Linux\": 50}"])])
        XCTAssertLessThan(split.classify(try fingerprint(PacketBuilder())).confidence, 0.6)
    }

    func testCacheReturnsTheSameAnswer() throws {
        let m = try matcher([entryLine([:])])
        let fp = try fingerprint(PacketBuilder())
        let first = m.classify(fp), second = m.classify(fp)
        XCTAssertEqual(first.confidence, second.confidence)
        XCTAssertEqual(first.best[0], second.best[0])
        // The second answer came from the cache: scored once, and the same answer id.
        XCTAssertEqual(m.answersComputed, 1)
        XCTAssertEqual(first.answerID, second.answerID)
        _ = m.classify(try fingerprint(PacketBuilder(window: 1234)))
        XCTAssertEqual(m.answersComputed, 2)
    }
}
