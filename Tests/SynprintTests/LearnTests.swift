import XCTest

@testable import Decode
@testable import Features
@testable import Formatting
@testable import Learn
@testable import Match
@testable import Verdict

final class LearnTests: XCTestCase {
    func testLabelsFilesReportBadRowsWithLineNumbersAndKeepTheRest() throws {
        let csv = """
            ip,port,time,os_class,user_agent
            10.0.0.1,50000,1700000000,Windows,
            10.0.0.2,,,,"Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0, extra"
            not-an-ip,1,,Linux,
            10.0.0.3,99999,,Linux,
            10.0.0.4,,,Plan9\u{1b}]0;title\u{07},
            10.0.0.5,,yesterday,Linux,
            10.0.0.6,,,,
            """
        let file = try LabelsFile.parseCSV(csv, file: "labels.csv")
        XCTAssertEqual(file.count, 2)
        XCTAssertEqual(file.problems.map(\.line), [4, 5, 6, 7, 8])
        XCTAssertTrue(file.problems[0].message.contains("not-an-ip"))
        // What a bad row says is quoted with its control characters escaped (it goes to a terminal).
        XCTAssertEqual(file.problems[2].message, #"unknown os_class "Plan9\u{1B}]0;title\u{07}""#)
        let windows = try XCTUnwrap(file.row(for: IPAddress("10.0.0.1")!, port: 50000, seconds: 1_700_000_100, window: 300))
        XCTAssertEqual(windows.label?.osClass, .windows)
        XCTAssertNil(file.row(for: IPAddress("10.0.0.1")!, port: 50000, seconds: 1_700_001_000, window: 300))  // outside the window
        XCTAssertNil(file.row(for: IPAddress("10.0.0.1")!, port: 1, seconds: 1_700_000_000, window: 300))  // another port
        let linux = try XCTUnwrap(file.row(for: IPAddress("10.0.0.2")!, port: 1234, seconds: 0, window: 300))
        XCTAssertEqual(linux.label?.osClass, .linux)  // from the User-Agent, commas and all

        let jsonl = """
            {"src_ip": "192.0.2.1", "src_port": 443, "os_class": "Android"}
            {"ip": "192.0.2.2", "ts": "2023-11-14T22:13:20Z", "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)"}
            {broken
            {"ip": "192.0.2.3"}
            """
        let lines = LabelsFile.parseJSONLines(jsonl)
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(lines.problems.map(\.line), [3, 4])
        XCTAssertEqual(lines.row(for: IPAddress("192.0.2.1")!, port: 443, seconds: 0, window: 0)?.label?.osClass, .android)
        XCTAssertEqual(lines.row(for: IPAddress("192.0.2.2")!, port: 1, seconds: 1_700_000_000, window: 5)?.label?.osClass, .iOS)
        // The same file saved on Windows: the same rows, the same line numbers.
        let savedOnWindows = LabelsFile.parseJSONLines(jsonl.replacingOccurrences(of: "\n", with: "\r\n"))
        XCTAssertEqual(savedOnWindows.count, 2)
        XCTAssertEqual(savedOnWindows.problems.map(\.line), [3, 4])
    }

    func fingerprint(_ p: PacketBuilder) throws -> Fingerprint {
        try p.ipv4().withUnsafeBytes { raw in
            let s = try decodedSegment(raw)
            return Fingerprint(s, in: raw)
        }
    }

    func classification(_ osClass: OSClass, _ confidence: Float) -> Classification {
        Classification(
            answerID: 1, osClass: osClass, family: osClass.family, confidence: confidence, familyConfidence: confidence,
            kind: .exact, classScores: InlineArray(repeating: 0), best: TopCandidates())
    }

    func testExclusionsAndCounts() throws {
        let linuxSYN = try fingerprint(PacketBuilder())
        var bare = PacketBuilder()
        bare.options = []
        let optionless = try fingerprint(bare)
        var reply = PacketBuilder()
        reply.flags = 0x12
        let synAck = try fingerprint(reply)
        let linux = ClaimedOS(.linux)
        let learner = Learner()
        XCTAssertNil(learner.observe(linuxSYN, label: linux, userAgent: nil, classification: classification(.linux, 0.95), seconds: 10))
        XCTAssertNil(
            learner.observe(linuxSYN, label: ClaimedOS(.android), userAgent: nil, classification: classification(.linux, 0.95), seconds: 20)
        )
        XCTAssertEqual(learner.observe(linuxSYN, label: nil, userAgent: "Googlebot/2.1", classification: nil, seconds: 0), .botUserAgent)
        XCTAssertEqual(learner.observe(linuxSYN, label: nil, userAgent: "curl/8.5.0", classification: nil, seconds: 0), .noOSNamed)
        XCTAssertEqual(
            learner.observe(linuxSYN, label: ClaimedOS(family: .apple), userAgent: nil, classification: nil, seconds: 0), .familyOnly)
        XCTAssertEqual(learner.observe(optionless, label: linux, userAgent: nil, classification: nil, seconds: 0), .craftedSYN)
        XCTAssertEqual(learner.observe(synAck, label: linux, userAgent: nil, classification: nil, seconds: 0), .synAck)
        // A confident other family is the VPN/proxy case; an unsure one is not.
        XCTAssertEqual(
            learner.observe(linuxSYN, label: ClaimedOS(.windows), userAgent: nil, classification: classification(.linux, 0.95), seconds: 0),
            .familyDisagrees)
        XCTAssertNil(
            learner.observe(linuxSYN, label: ClaimedOS(.windows), userAgent: nil, classification: classification(.linux, 0.6), seconds: 30))
        XCTAssertEqual(learner.accepted, 3)
        XCTAssertEqual(learner.excluded.values.reduce(0, +), 6)
        let entries = learner.entries(source: "test")
        XCTAssertEqual(entries.count, 1)  // one key, three labels
        let entry = entries[0]
        XCTAssertEqual(entry.counts, [.linux: 1, .android: 1, .windows: 1])
        XCTAssertEqual(entry.osClass, .windows)  // ties go to the class listed first
        XCTAssertEqual(entry.provenance, .learned)
        XCTAssertEqual(entry.mss, .any)
        XCTAssertEqual(entry.windows, Choices([.mssFit]))  // 64240: the largest multiple of 1460 under 65535
        XCTAssertEqual(entry.firstSeen, "1970-01-01T00:00:10.000000Z")
        XCTAssertEqual(entry.lastSeen, "1970-01-01T00:00:30.000000Z")
        // The written entry loads back unchanged.
        let reloaded = try Database.parse(Database(entries: entries).serialized(), file: "learned.db")
        XCTAssertEqual(EntryWriter.line(reloaded.entries[0]), EntryWriter.line(entry).replacingOccurrences(of: "\"line\"", with: ""))
    }

    func database(_ lines: [String]) throws -> Database {
        try Database.parse("{\"synprint_db\": 1}\n" + lines.joined(separator: "\n"), file: "test.db")
    }

    func line(id: String, provenance: String, counts: String?, osClass: String = "Linux", window: String = "\"mss*44\"") -> String {
        "{\"id\": \"\(id)\", \"packet\": \"syn\", \"class\": \"\(osClass)\", \"name\": \"\(osClass)\", \"ttl\": 64, \"window\": \(window), "
            + "\"scale\": 7, \"layout\": \"mss,sok,ts,nop,ws\", \"provenance\": \"\(provenance)\""
            + (counts.map { ", \"counts\": \($0)" } ?? "") + "}"
    }

    func testMergeAddsCountsAndKeepsCuratedLabels() throws {
        let a = try database([
            line(id: "a", provenance: "learned", counts: "{\"Linux\": 3}", window: "\"mss*10\""),
            line(id: "curated", provenance: "curated", counts: nil),
        ])
        let b = try database([
            line(id: "b", provenance: "learned", counts: "{\"Linux\": 2, \"Android\": 6}", osClass: "Android", window: "\"mss*10\""),
            line(id: "c", provenance: "learned", counts: "{\"Android\": 4}", osClass: "Android"),
            line(id: "a", provenance: "learned", counts: "{\"Linux\": 1}", window: "\"mss*20\""),
        ])
        let merged = DatabaseMerge.merge([a, b], prefer: .curated)
        XCTAssertEqual(merged.entries.count, 3)
        let learned = try XCTUnwrap(merged.entries.first { $0.id == "a" })
        XCTAssertEqual(learned.counts, [.linux: 5, .android: 6])
        XCTAssertEqual(learned.osClass, .android)  // learned labels follow the summed counts
        let curated = try XCTUnwrap(merged.entries.first { $0.id == "curated" })
        XCTAssertEqual(curated.osClass, .linux)  // curated keeps priority...
        XCTAssertEqual(curated.counts, [.android: 4])  // ...and gains the counts
        XCTAssertEqual(merged.entries.filter { $0.id.hasPrefix("a") }.map(\.id), ["a", "a-2"])  // ids stay unique
        let preferLearned = DatabaseMerge.merge([a, b], prefer: .learned)
        XCTAssertEqual(preferLearned.entries.first { EntryWriter.constraints($0) == EntryWriter.constraints(curated) }?.osClass, .android)
        // Minimum count: learned keys below it go, curated entries stay.
        let (kept, dropped) = DatabaseMerge.dropRare(merged, minCount: 5)
        XCTAssertEqual(kept.entries.map(\.id).sorted(), ["a", "curated"])
        XCTAssertEqual(dropped.keys, 1)
        XCTAssertEqual(dropped.observations, 1)
        // Review before deploying.
        let diff = DatabaseDiff.lines(a, merged)
        XCTAssertTrue(diff.contains { $0.hasPrefix("~ a label:") }, "\(diff)")
        XCTAssertTrue(diff.contains { $0.hasPrefix("~ curated counts:") }, "\(diff)")
        XCTAssertTrue(diff.contains { $0.hasPrefix("+ a-2") }, "\(diff)")
        XCTAssertTrue(DatabaseStatistics.report(merged).contains("2 conflicting keys") == false)
        XCTAssertTrue(DatabaseStatistics.report(merged).contains("1 conflicting keys"))
    }

    /// Builds a database from one generated labelled capture, then classifies another with it.
    func testBuildThenClassifyAnotherCapture() throws {
        let folder = try temporaryFolder()
        let learned = folder.appendingPathComponent("learned.jsonl")
        let build = try runSynprint([
            "db", "build", "-r", repositoryRoot.appendingPathComponent("tools/samples/mixed-os.pcap").path,
            "--min-count", "1", "-o", learned.path,
        ])
        XCTAssertEqual(build.status, 0, build.stderr)
        XCTAssertTrue(build.stderr.contains("12 labelled"), build.stderr)
        let run = try runSynprint(["-r", CommandTests.fixture.path, "--json", "--classify", "--db", learned.path])
        let syns = jsonLines(run.stdout).filter { $0["type"] as? String == "syn" }
        XCTAssertEqual(syns.count, 6)
        let expected = ["Linux", "Windows", "Windows", "Linux", "Windows", "Windows"]  // the fixture's stacks, in order
        XCTAssertEqual(syns.map { ($0["os"] as? [String: Any])?["class"] as? String }, expected)
        for syn in syns {
            let best = ((syn["os"] as? [String: Any])?["best"] as? [[String: Any]])?.first
            XCTAssertTrue((best?["id"] as? String)?.hasPrefix("learned-") == true)
        }
    }
}

final class WindowLabelerTests: XCTestCase {
    func syn(port: UInt16, at seconds: Int, from address: [UInt8] = [10, 0, 0, 3]) throws -> SynObservation {
        var p = PacketBuilder()
        p.sourcePort = port
        let bytes = p.ipv4(source: address)
        return try bytes.withUnsafeBytes { raw in
            SynObservation(seconds: seconds, microseconds: 0, fingerprint: Fingerprint(try decodedSegment(raw), in: raw))
        }
    }

    /// A User-Agent labels the address's SYNs within the window, before and after it, and no others.
    func testLabelsSynsOfTheSameAddressWithinTheWindow() throws {
        let labeler = WindowLabeler(window: 60, capacity: 8)
        XCTAssertNil(labeler.syn(try syn(port: 1, at: 100)))  // waits for a claim
        XCTAssertNil(labeler.syn(try syn(port: 2, at: 10)))  // too early for a claim at 100
        let address = IPAddress("10.0.0.3")!
        let labelled = labeler.claim(address, label: ClaimedOS(.linux), userAgent: "X11; Linux", at: 100)
        XCTAssertEqual(labelled.map { $0.syn.fingerprint.segment.sourcePort }, [1])
        XCTAssertEqual(labelled.first?.label, ClaimedOS(.linux))
        XCTAssertEqual(labeler.syn(try syn(port: 3, at: 150))?.userAgent, "X11; Linux")  // after the claim, within 60 s
        XCTAssertNil(labeler.syn(try syn(port: 4, at: 500)))  // long after
        XCTAssertNil(labeler.syn(try syn(port: 5, at: 120, from: [10, 0, 0, 4])))  // another address
        XCTAssertTrue(labeler.claim(IPAddress("10.0.0.9")!, label: nil, userAgent: nil, at: 0).isEmpty)
    }

    /// A host that never makes a claim keeps only its latest SYNs waiting.
    func testWaitingSynsPerHostAreBounded() throws {
        let labeler = WindowLabeler(window: 1000, capacity: 8)
        for port in 1...40 { XCTAssertNil(labeler.syn(try syn(port: UInt16(port), at: 100))) }
        let labelled = labeler.claim(IPAddress("10.0.0.3")!, label: ClaimedOS(.windows), userAgent: nil, at: 100)
        XCTAssertEqual(labelled.count, WindowLabeler.pendingLimit)
        XCTAssertEqual(labelled.last?.syn.fingerprint.segment.sourcePort, 40)
    }
}
