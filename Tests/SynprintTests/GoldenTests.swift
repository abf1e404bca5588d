import XCTest

@testable import Decode
@testable import Formatting
@testable import Match
@testable import Output
@testable import SynprintKit

/// Every output format on the shipped samples (and the real TLS clients' ClientHellos),
/// compared byte for byte with the outputs kept in
/// Tests/SynprintTests/Golden. A change of format or of an answer shows up here as a diff to
/// review; `SYNPRINT_UPDATE_GOLDEN=1 swift test --filter GoldenTests` writes the new outputs.
final class GoldenTests: XCTestCase {
    static let samples = [
        ("mixed-os", "tools/samples/mixed-os.pcap"), ("verdicts", "tools/samples/verdicts.pcap"),
        ("tls-clients", "Tests/SynprintTests/Fixtures/tls-clients.pcap"),
    ]

    func testEveryFormatOnTheShippedSamplesMatchesItsGoldenOutput() throws {
        let update = ProcessInfo.processInfo.environment["SYNPRINT_UPDATE_GOLDEN"] == "1"
        let folder = try temporaryFolder()
        for (sample, path) in GoldenTests.samples {
            let capture = try packets(of: repositoryRoot.appendingPathComponent(path))
            let variants =
                EventFormat.allCases.map { (format: $0, schema: EventSchema.native, name: $0.rawValue) }
                + [EventSchema.ecs, .eve].map { (format: EventFormat.json, schema: $0, name: "\($0.rawValue).json") }
            for (format, schema, name) in variants {
                let output = folder.appendingPathComponent("\(sample).\(name)")
                let sink = EventSink(file: try OutputFile(path: output.path, mode: .truncate))
                let labels = EventLabels(sensor: "golden", schema: schema)
                let log = EventLog(
                    format: format, database: try shippedDatabase(), labels: labels, sink: sink, alerts: nil, observations: nil)
                let sensor = Sensor(
                    settings: Settings(), database: try shippedDatabase(), stacks: try shippedTLSStacks(), judging: true, threaded: false,
                    handler: log)
                feed(capture, to: sensor)
                sensor.finish()
                sink.flush()
                let produced = try String(contentsOf: output, encoding: .utf8)
                let golden = repositoryRoot.appendingPathComponent("Tests/SynprintTests/Golden/\(sample).\(name)")
                if update { try produced.write(to: golden, atomically: true, encoding: .utf8) }
                let expected = try String(contentsOf: golden, encoding: .utf8)
                XCTAssertFalse(produced.isEmpty)
                XCTAssertEqual(produced, expected, "\(sample) as \(name) differs from \(golden.lastPathComponent)")
            }
        }
    }

    /// The `conn` and `flowstats` events beside the SYNs (`--connections --flow-stats`) in every
    /// format, and the fleet store's rows of the same run, on the shipped mixed sample.
    func testConnectionAndFlowEventsAndStoreRowsMatchTheirGoldenOutput() throws {
        let update = ProcessInfo.processInfo.environment["SYNPRINT_UPDATE_GOLDEN"] == "1"
        let folder = try temporaryFolder()
        let capture = try packets(of: repositoryRoot.appendingPathComponent("tools/samples/mixed-os.pcap"))
        let database = try shippedDatabase()
        func compare(_ produced: String, _ name: String) throws {
            let golden = repositoryRoot.appendingPathComponent("Tests/SynprintTests/Golden/\(name)")
            if update { try produced.write(to: golden, atomically: true, encoding: .utf8) }
            let windows = produced.contains("flowstats") || produced.contains("tunnel_rules")
            XCTAssertTrue(produced.contains("post_syn") && windows, "\(name) lacks records or windows")
            XCTAssertEqual(produced, try String(contentsOf: golden, encoding: .utf8), "differs from \(name)")
        }
        for format in EventFormat.allCases {
            let output = folder.appendingPathComponent("records.\(format.rawValue)")
            let sink = EventSink(file: try OutputFile(path: output.path, mode: .truncate))
            let log = EventLog(
                format: format, database: database, labels: EventLabels(sensor: "golden"), sink: sink, alerts: nil, observations: nil)
            let sensor = Sensor(
                settings: Settings(), database: database, judging: true, following: true, flowStatistics: true, threaded: false,
                handler: log)
            feed(capture, to: sensor)
            sensor.finish()
            sink.flush()
            try compare(try String(contentsOf: output, encoding: .utf8), "mixed-os.records.\(format.rawValue)")
        }
        let events = runSensor(
            capture.packets, link: capture.link, database: database, judging: true, following: true, flowStatistics: true)
        let rows = StoreRows(database: database, labels: EventLabels(sensor: "golden"), runStart: 1_700_000_000_000_000)
        // The binary rows, read back by the schema into one line per row: TABLE {"column":value,…}.
        var lines = ""
        try writeStoreRows(events, with: rows) { table, out, _ in
            let decoded = try RowBinaryDecoder.lines(out.withBytes { [UInt8]($0) }, table: table)
            XCTAssertEqual(decoded.count, 1, "\(table)")
            lines += decoded.map { "\(table.rawValue) \($0)\n" }.joined()
        }
        try compare(lines, "mixed-os.store.rows")
    }

    /// The stats event (`--stats-events`) of a run over the mixed sample, at a fixed time, in
    /// each JSON schema.
    func testStatsEventMatchesItsGoldenOutput() throws {
        let update = ProcessInfo.processInfo.environment["SYNPRINT_UPDATE_GOLDEN"] == "1"
        let capture = try packets(of: repositoryRoot.appendingPathComponent("tools/samples/mixed-os.pcap"))
        let database = try shippedDatabase()
        var produced = ""
        for schema in EventSchema.allCases {
            let output = try temporaryFolder().appendingPathComponent("stats.json")
            let sink = EventSink(file: try OutputFile(path: output.path, mode: .truncate))
            let log = EventLog(
                format: .json, database: database, labels: EventLabels(sensor: "golden", schema: schema), sink: sink, alerts: nil,
                observations: nil)
            let sensor = Sensor(settings: Settings(), database: database, judging: true, threaded: false, handler: log)
            feed(capture, to: sensor)
            sensor.finish()
            sensor.publishStatus(libpcap: (30, 2, 1))
            var status = sensor.captureStatus
            XCTAssertGreaterThan(status.published, 1_700_000_000)
            status.published = 1_765_000_000.25
            log.idle()
            log.handle(status: status)
            sink.flush()
            let stats = try String(contentsOf: output, encoding: .utf8).split(separator: "\n").filter { $0.contains("stats") }
            XCTAssertEqual(stats.count, 1, "\(schema)")
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data((stats.first ?? "").utf8)) as? [String: Any])
            XCTAssertEqual((object["synprint"] as? [String: Any] ?? object)["packets"] as? Int, capture.packets.count, "\(schema)")
            produced += (stats.first.map(String.init) ?? "") + "\n"
        }
        let golden = repositoryRoot.appendingPathComponent("Tests/SynprintTests/Golden/mixed-os.stats.json")
        if update { try produced.write(to: golden, atomically: true, encoding: .utf8) }
        XCTAssertEqual(produced, try String(contentsOf: golden, encoding: .utf8))
    }
}
