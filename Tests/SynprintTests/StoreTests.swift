import Decode
import Fleet
import Formatting
import Foundation
import Match
import Output
import SynprintKit
import Tables
import Verdict
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The fleet store against a real ClickHouse server on loopback: what a sensor writes to its
/// JSON file arrives in the store once, through outages, restarts and a full spool.
final class StoreTests: XCTestCase {
    static let captures = [
        repositoryRoot.appendingPathComponent("tools/samples/verdicts.pcap"),
        repositoryRoot.appendingPathComponent("tools/samples/mixed-os.pcap"),
        fixture("connections.pcap"),
        fixture("tls-clients.pcap"),
    ]

    /// Every capture through one threaded sensor (every analysis on) whose events go to a JSON
    /// file and to `store`; `between` runs once half of the packets are in.
    func feed(
        _ captures: [URL], store: StoreSink, json: URL, sensor name: String = "test", workers: Int = 1, between: () throws -> Void = {},
        end: () throws -> Void = {}
    ) throws {
        let database = try shippedDatabase()
        let limiter = AlertLimiter(perHost: 10, window: 60, perSecond: 100)
        let sink = EventSink(file: try OutputFile(path: json.path, mode: .truncate))
        let log = EventLog(
            format: .json, database: database, labels: EventLabels(sensor: name), sink: sink, alerts: nil, observations: nil,
            limiter: limiter)
        let sensor = Sensor(
            settings: Settings(), database: database, stacks: try shippedTLSStacks(), judging: true, following: true,
            flowStatistics: true, workers: workers, handler: EventFanOut([log, store], alerts: limiter))
        let all = try captures.map { try packets(of: $0) }
        let total = all.reduce(0) { $0 + $1.packets.count }
        var fed = 0
        for capture in all {
            for packet in capture.packets {
                _ = packet.bytes.withUnsafeBytes {
                    sensor.process(Packet(seconds: packet.seconds, microseconds: packet.microseconds, bytes: $0), link: capture.link)
                }
                fed += 1
                if fed == total / 2 {
                    sensor.idle()
                    try between()
                }
            }
        }
        sensor.sendStatus()
        sensor.finish()
        sink.flush()
        try end()
        store.finish()
    }

    func makeSink(
        _ url: String, spool: Spool? = nil, sensor: String = "test", compressing: Bool = false,
        _ adjust: (inout StoreSink.Settings) -> Void = { _ in }
    ) throws -> StoreSink {
        guard case .success(let address) = StoreAddress.parse(url) else { throw Failed(description: "bad URL \(url)") }
        var settings = StoreSink.Settings()
        settings.retryFirst = 0.05
        settings.retryMost = 0.5
        adjust(&settings)
        return StoreSink(
            client: StoreClient(address: address, timeout: 3, compressing: compressing), spool: spool, database: try shippedDatabase(),
            labels: EventLabels(sensor: sensor), limiter: nil, settings: settings)
    }

    func initialize(_ server: ClickHouseServer, cluster: String? = nil) throws {
        guard case .success(let address) = StoreAddress.parse(server.url) else { return }
        let client = StoreClient(address: address)
        defer { client.shutdown() }
        _ = try StoreSetup.initialize(client, cluster: cluster, ttlDays: nil)
    }

    /// Events of the JSON file by type (the store has no `stats` without --stats-events).
    func countsByType(_ json: URL) throws -> [String: Int] {
        try jsonLines(of: json).reduce(into: [:]) { $0[$1["type"] as? String ?? "?", default: 0] += 1 }
    }

    func storeCounts(_ server: ClickHouseServer, table suffix: String = "", final: Bool = true) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for table in StoreTable.allCases {
            let n = try server.count("SELECT count() FROM synprint.\(table.rawValue)\(suffix) \(final ? "FINAL" : "")")
            if n > 0 { counts[table.rawValue] = n }
        }
        return counts
    }

    /// The store's rows, by table, as they would be counted from the JSON file: http and alert
    /// rows are the JSON's http lines and the alerts raised.
    func assertStoreHolds(_ server: ClickHouseServer, _ json: URL, alerts: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        var expected = try countsByType(json)
        expected.removeValue(forKey: "stats")
        if alerts > 0 { expected["alert"] = alerts }
        let stored = try storeCounts(server)
        var storedEvents = stored
        storedEvents.removeValue(forKey: "stats")
        XCTAssertEqual(storedEvents, expected, "rows in the store against events in the JSON file", file: file, line: line)
        // Every event once: no event id twice, and the run's sequence numbers without a gap.
        var sequences: [Int] = []
        for table in StoreTable.allCases {
            let ids = try server.rows("SELECT event_id FROM synprint.\(table.rawValue)").map { $0[0] }
            XCTAssertEqual(Set(ids).count, ids.count, "\(table) holds an event twice", file: file, line: line)
            sequences += ids.compactMap { Int($0.split(separator: "-").last ?? "") }
        }
        XCTAssertEqual(sequences.sorted(), Array(0..<sequences.count), "event sequences with a gap", file: file, line: line)
    }

    // MARK: Without a server

    func testRowsHaveExactlyTheColumnsOfTheirTable() throws {
        let database = try shippedDatabase()
        let rows = StoreRows(database: database, labels: EventLabels(sensor: "s\"1"), runStart: 1_700_000_000_000_000)
        var seen = Set<StoreTable>()
        var sequence: UInt64 = 0
        for capture in StoreTests.captures + [fixture("tunnels.pcap")] {
            let p = try packets(of: capture)
            let events = runSensor(
                p.packets, link: p.link, database: database, stacks: try shippedTLSStacks(), judging: true, following: true,
                flowStatistics: true)
            sequence = try writeStoreRows(events, with: rows, from: sequence) { table, out, id in
                let lines = try RowBinaryDecoder.lines(out.withBytes { [UInt8]($0) }, table: table)
                XCTAssertEqual(lines.count, 1, "\(table): one row, each value of its column's type, nothing left over")
                let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any], lines[0])
                XCTAssertEqual(object["sensor"] as? String, "s\"1")
                XCTAssertEqual(object["event_id"] as? String, "s\"1-1700000000000000-\(id)")
                seen.insert(table)
            }
        }
        XCTAssertEqual(seen, [.syn, .synack, .http, .conn, .flowstats, .tls])
        let out = TextBuffer(capacity: 1024)
        let figures = StatsFigures(
            seconds: 1, microseconds: 0, packets: 1, syn: 1, synAck: 0, skipped: 0, malformed: 0, libpcap: (7, 2, 1), awaitingRequest: 0,
            requests: 0, flagged: 0, alertsSuppressed: 0)
        rows.identify(0, to: out)
        rows.write(figures, to: out)
        let stats = try RowBinaryDecoder.lines(out.withBytes { [UInt8]($0) }, table: .stats)
        XCTAssertEqual(stats.count, 1)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(stats[0].utf8)) as? [String: Any])
        XCTAssertEqual(object["libpcap_dropped"] as? Int, 2)
        XCTAssertEqual(object["packets"] as? Int, 1)
    }

    /// The SQL shipped in deploy/clickhouse/ is what `clickhouse init --print` prints.
    func testShippedSchemaIsTheBinarysSchema() throws {
        let shipped = try String(contentsOf: repositoryRoot.appendingPathComponent("deploy/clickhouse/schema.sql"), encoding: .utf8)
        XCTAssertEqual(
            shipped, StoreSchema.script(database: "synprint"),
            "regenerate with: synprint clickhouse init --print > deploy/clickhouse/schema.sql")
    }

    /// OUTPUT.md names every column of every table (a `down_*` column through its `up_*` twin).
    func testEveryColumnIsDocumented() throws {
        let output = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/OUTPUT.md"), encoding: .utf8)
        let section = try XCTUnwrap(output.components(separatedBy: "## Fleet store rows").last)
        for table in StoreTable.allCases {
            XCTAssertTrue(section.contains("`\(table.rawValue)`"), "\(table)")
            for column in StoreSchema.columns(table) {
                let name = column.name.hasPrefix("down_") ? "up_" + column.name.dropFirst(5) : column.name
                XCTAssertTrue(section.contains("`\(name)`"), "\(table).\(column.name) is not in OUTPUT.md")
            }
        }
    }

    /// The report's queries are shipped as the binary runs them, and with the schema they run
    /// on a current ClickHouse (chDB, tools/setup.sh installs it) as well as on the tests' 18.16.
    func testShippedQueriesAreTheReportsAndRunOnACurrentEngine() throws {
        let folder = repositoryRoot.appendingPathComponent("deploy/clickhouse/queries")
        let update = ProcessInfo.processInfo.environment["SYNPRINT_UPDATE_GOLDEN"] == "1"
        for query in StoreReport.Query.allCases {
            let file = folder.appendingPathComponent("report-\(query.rawValue).sql")
            if update { try query.example.write(to: file, atomically: true, encoding: .utf8) }
            XCTAssertEqual(try String(contentsOf: file, encoding: .utf8), query.example, file.lastPathComponent)
        }
        // The Grafana dashboard's queries too, with its macros and variable filled in.
        let dashboard =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: repositoryRoot.appendingPathComponent("deploy/grafana-clickhouse-dashboard.json"))) as? [String: Any]
        let panels = try XCTUnwrap(dashboard?["panels"] as? [[String: Any]])
        let panelSQL = panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["rawSql"] as? String } }
        XCTAssertEqual(panelSQL.count, panels.count)
        let grafana = try temporaryFolder()
        var files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted().map {
            folder.appendingPathComponent($0)
        }
        for (i, sql) in panelSQL.enumerated() {
            let filled = sql.replacingOccurrences(of: #"\$__timeFilter\((\w+)\)"#, with: "$1 >= toDateTime(0)", options: .regularExpression)
                .replacingOccurrences(of: "${sensor:singlequote}", with: "'test'")
            XCTAssertFalse(filled.contains("$"), filled)
            let file = grafana.appendingPathComponent("panel-\(i + 1).sql")
            try filled.write(to: file, atomically: true, encoding: .utf8)
            files.append(file)
        }
        // The sensor's binary rows of a real run, read by the current engine into its tables.
        let rowsFolder = try temporaryFolder()
        let database = try shippedDatabase()
        let rows = StoreRows(database: database, labels: EventLabels(sensor: "test"), runStart: 1_700_000_000_000_000)
        var written: [StoreTable: (TextBuffer, Int)] = [:]
        var sequence: UInt64 = 0
        for capture in StoreTests.captures {
            let p = try packets(of: capture)
            let events = runSensor(
                p.packets, link: p.link, database: database, stacks: try shippedTLSStacks(), judging: true, following: true,
                flowStatistics: true)
            sequence = writeStoreRows(events, with: rows, from: sequence) { table, out, _ in
                let all = written[table]?.0 ?? TextBuffer(capacity: 1 << 16)
                all.append(out)
                written[table] = (all, (written[table]?.1 ?? 0) + 1)
            }
        }
        for (table, (out, _)) in written {
            try Data(out.withBytes { [UInt8]($0) }).write(to: rowsFolder.appendingPathComponent("\(table.rawValue).rowbinary"))
        }
        let (status, text) = try runCommand(
            [
                "python3", repositoryRoot.appendingPathComponent("tools/check-store-sql.py").path, "--rows", rowsFolder.path,
                repositoryRoot.appendingPathComponent("deploy/clickhouse/schema.sql").path,
            ] + files.map(\.path))
        XCTAssertEqual(status, 0, text)
        XCTAssertTrue(text.contains("the schema and \(files.count) queries ran"), text)
        XCTAssertEqual(written.count, 6, "syn, synack, http, conn, flowstats and tls rows")
        for (table, (_, count)) in written { XCTAssertTrue(text.contains("\(table.rawValue): \(count) rows read"), "\(table): \(text)") }
        // The same files on Debian's ClickHouse, over rows of a real run.
        let server = try ClickHouseServer.started()
        try initialize(server)
        let store = try makeSink(server.url)
        try feed(StoreTests.captures, store: store, json: try temporaryFolder().appendingPathComponent("events.jsonl"))
        for file in files {
            let sql = try String(contentsOf: file, encoding: .utf8)
            XCTAssertNoThrow(try server.query(sql), file.lastPathComponent)
        }
        // Over the run's rows, the dashboard's stage and OS panels are not empty.
        for i in [1, 4] {
            let sql = try String(contentsOf: grafana.appendingPathComponent("panel-\(i).sql"), encoding: .utf8)
            XCTAssertFalse(try server.query(sql).isEmpty, "panel \(i)")
        }
    }

    func testAddressesAndTheirMistakes() {
        XCTAssertEqual(
            try StoreAddress.parse("http://127.0.0.1:8123/fleet").get(), StoreAddress(base: "http://127.0.0.1:8123", database: "fleet"))
        XCTAssertEqual(
            try StoreAddress.parse("https://ch.example").get(), StoreAddress(base: "https://ch.example:8443", database: "synprint"))
        XCTAssertEqual(try StoreAddress.parse("http://[::1]:9/").get().base, "http://[::1]:9")
        // Database names are ASCII: the HTTP client would escape others a second time.
        for bad in [
            "ch:8123", "ftp://h/x", "http://u:p@h/x", "http://h/a/b", "http://h/bad-name", "http:///x", "http://h/b%C3%A9nch",
            "http://h/x?y=1", "http://h/x#f",
        ] {
            guard case .failure(let error) = StoreAddress.parse(bad) else { return XCTFail("\(bad) accepted") }
            XCTAssertTrue(error.description.hasPrefix(bad), error.description)
        }
        // --since: at most a hundred years, past which ClickHouse's now() - N wraps round.
        XCTAssertEqual(StoreReport.duration("36500d"), 36_500 * 86_400)
        XCTAssertEqual(StoreReport.duration("15m"), 900)
        for bad in ["36501d", "9223372036854775807", "106751991167300d", "0", "-5m", "5w"] { XCTAssertNil(StoreReport.duration(bad), bad) }
        XCTAssertNotNil(StoreReport.network("198.51.100.0/22"))
        for bad in ["10.0.0.0/8/", "10.0.0.0//8", "10.0.0.0/33", "/8"] { XCTAssertNil(StoreReport.network(bad), bad) }
    }

    func testSpoolKeepsBatchesWholeInOrderAndWithinItsBound() throws {
        let folder = try temporaryFolder().appendingPathComponent("spool")
        let spool = try Spool(folder: folder.path, limit: 1000)
        for sequence in [3, 1, 2] as [UInt64] {
            XCTAssertTrue(spool.add(StoreBatch(sequence: sequence, table: "syn", rows: 2, bytes: Array(repeating: 65, count: 300))))
        }
        XCTAssertEqual(spool.oldest()?.sequence, 1)
        // A fourth pushes out the oldest, counted.
        XCTAssertTrue(spool.add(StoreBatch(sequence: 4, table: "conn", rows: 5, bytes: Array(repeating: 66, count: 300))))
        XCTAssertEqual(spool.batches, 3)
        XCTAssertEqual(spool.droppedRows, 2)
        XCTAssertLessThanOrEqual(spool.bytes, 1000)
        XCTAssertFalse(spool.add(StoreBatch(sequence: 5, table: "syn", rows: 9, bytes: Array(repeating: 67, count: 1001))))
        XCTAssertEqual(spool.droppedRows, 11)
        // A crash's temporary file is removed; the batches are read back in order, whole.
        _ = FileManager.default.createFile(
            atPath: folder.appendingPathComponent(".tmp-00000000000000000009.syn.1.rowbinary").path, contents: Data([1]))
        let reopened = try Spool(folder: folder.path, limit: 1000)
        XCTAssertEqual(reopened.batches, 3)
        XCTAssertEqual(reopened.nextSequence, 5)
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: folder.appendingPathComponent(".tmp-00000000000000000009.syn.1.rowbinary").path))
        let oldest = try XCTUnwrap(reopened.oldest())
        XCTAssertEqual([oldest.sequence, UInt64(oldest.rows), UInt64(oldest.bytes.count)], [2, 2, 300])
        XCTAssertEqual(oldest.table, "syn")
        reopened.remove(2)
        XCTAssertEqual(reopened.oldest()?.sequence, 3)
        // The batches written last are sent from memory: with its file gone behind the spool's
        // back, a held batch still comes whole; one not held is dropped, counted.
        for holding in [1000, 0] {
            let other = folder.deletingLastPathComponent().appendingPathComponent("spool-\(holding)")
            let spool = try Spool(folder: other.path, limit: 1000, holding: holding)
            let batch = StoreBatch(sequence: 7, table: "http", rows: 3, bytes: Array(repeating: 68, count: 200))
            XCTAssertTrue(spool.add(batch))
            XCTAssertEqual(unlink(other.appendingPathComponent("00000000000000000007.http.3.rowbinary").path), 0)
            XCTAssertEqual(spool.oldest()?.bytes, holding > 0 ? batch.bytes : nil, "holding \(holding)")
            XCTAssertEqual(spool.droppedRows, holding > 0 ? 0 : 3)
            spool.remove(7)
            XCTAssertTrue(spool.isEmpty)
        }
        // A link in place of the folder is refused.
        let link = folder.deletingLastPathComponent().appendingPathComponent("link")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: folder)
        XCTAssertThrowsError(try Spool(folder: link.path, limit: 1000))
    }

    /// Files named like batches but with numbers no sink writes (the last sequence, rows past
    /// Int's half) are not the spool's: left alone, not counted, so no count overflows.
    func testSpoolLeavesNamesBeyondItsNumbersAlone() throws {
        let folder = try temporaryFolder().appendingPathComponent("spool")
        let spool = try Spool(folder: folder.path, limit: 1 << 20)
        XCTAssertTrue(spool.add(StoreBatch(sequence: 3, table: "syn", rows: 2, bytes: Array(repeating: 65, count: 30))))
        let foreign = ["18446744073709551615.conn.1.rowbinary", "00000000000000000001.conn.9223372036854775807.rowbinary"]
        for name in foreign {
            XCTAssertTrue(FileManager.default.createFile(atPath: folder.appendingPathComponent(name).path, contents: Data([1])))
        }
        let reopened = try Spool(folder: folder.path, limit: 1 << 20)
        XCTAssertEqual(reopened.batches, 1)
        XCTAssertEqual(reopened.rows, 2)
        XCTAssertEqual(reopened.nextSequence, 4)
        for name in foreign { XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent(name).path)) }
    }

    // MARK: With a server

    func testOneRunArrivesWholeAndOnceAndTheViewsCountIt() throws {
        let server = try ClickHouseServer.started()
        try initialize(server)
        let json = try temporaryFolder().appendingPathComponent("events.jsonl")
        let store = try makeSink(server.url, compressing: true)  // gzip bodies, as to a server elsewhere
        try feed(StoreTests.captures, store: store, json: json)
        let report = store.report
        XCTAssertEqual(report.droppedRows, 0)
        XCTAssertEqual(report.rejectedBatches, 0)
        XCTAssertEqual(report.leftRows, 0)
        try assertStoreHolds(server, json, alerts: 2)
        XCTAssertEqual(try server.count("SELECT count() FROM synprint.stats"), 1)
        // Spot check of values: the JSON file's SYNs, field by field where both have them.
        let lines = try jsonLines(of: json).filter { $0["type"] as? String == "syn" }
        let rows = try server.rows(
            "SELECT src_ip, src_port, window, raw_sig, os_class, ja4t FROM synprint.syn ORDER BY ts, ts_us, src_port")
        let fromJSON = lines.map {
            [
                "\($0["src_ip"]!)", "\($0["src_port"]!)", "\($0["window"]!)", "\($0["raw_sig"]!)",
                "\(($0["os"] as? [String: Any])?["class"] ?? "")", "\($0["ja4t"]!)",
            ]
        }
        XCTAssertEqual(Set(rows.map { $0.joined(separator: "|") }), Set(fromJSON.map { $0.joined(separator: "|") }))
        // The 15-minute views hold what the tables hold.
        XCTAssertEqual(
            try server.count("SELECT sum(connections) FROM synprint.conn_15m"), try server.count("SELECT count() FROM synprint.conn"))
        XCTAssertEqual(try server.count("SELECT sum(syns) FROM synprint.syn_15m"), try server.count("SELECT count() FROM synprint.syn"))
        XCTAssertEqual(
            try server.count("SELECT sum(connections) FROM synprint.tls_15m"), try server.count("SELECT count() FROM synprint.tls"))
        XCTAssertGreaterThan(try server.count("SELECT count() FROM synprint.tls"), 0)
        XCTAssertEqual(
            try server.count("SELECT sum(flagged) FROM synprint.verdicts_15m WHERE reason = 'os_mismatch'"),
            try server.count("SELECT count() FROM synprint.http WHERE has(reasons, 'os_mismatch') AND flagged"))
    }

    /// `--clickhouse-sample 3`: the store holds exactly the events of the connections the
    /// sample keeps, each connection whole (its SYN, SYN+ACK, requests, ClientHello and record),
    /// every row weighs 3, and the views and the report count the connections they stand for.
    func testSampledSensorKeepsWholeConnectionsAndTheViewsWeighThem() throws {
        let server = try ClickHouseServer.started()
        try initialize(server)
        let json = try temporaryFolder().appendingPathComponent("events.jsonl")
        let store = try makeSink(server.url) { $0.sampleEvery = 3 }
        try feed(StoreTests.captures, store: store, json: json)
        let sample = ConnectionSample(every: 3)
        func flow(_ event: [String: Any], client: String, server: String) -> FlowKey {
            FlowKey(
                client: IPAddress(event["\(client)_ip"] as! String)!, clientPort: UInt16(event["\(client)_port"] as! Int),
                server: IPAddress(event["\(server)_ip"] as! String)!, serverPort: UInt16(event["\(server)_port"] as! Int))
        }
        var expected: [String: Int] = [:], all: [String: Int] = [:], flaggedLeft = 0
        for event in try jsonLines(of: json) {
            let type = event["type"] as! String
            guard ["syn", "synack", "http", "conn", "tls"].contains(type) else { continue }
            all[type, default: 0] += 1
            let key = type == "synack" ? flow(event, client: "dst", server: "src") : flow(event, client: "src", server: "dst")
            if sample.keeps(key) {
                expected[type, default: 0] += 1
            } else if (event["verdict"] as? [String: Any])?["flagged"] as? Bool == true {
                flaggedLeft += 1
            }
        }
        var stored = try storeCounts(server)
        for table in ["flowstats", "stats", "alert"] { stored.removeValue(forKey: table) }
        XCTAssertEqual(stored, expected)
        // Left out and counted: the events above, and the alerts of flagged requests among them.
        let left = all.values.reduce(0, +) - expected.values.reduce(0, +)
        XCTAssertGreaterThanOrEqual(store.report.sampledOut, left)
        XCTAssertLessThanOrEqual(store.report.sampledOut, left + flaggedLeft)
        for table in ["syn", "synack", "http", "conn", "tls"] {
            XCTAssertEqual(try server.count("SELECT countIf(weight != 3) FROM synprint.\(table)"), 0, table)
            XCTAssertLessThan(expected[table] ?? 0, all[table] ?? 0, "the sample leaves some \(table) out")
        }
        // Whole connections, whatever the hash: no record, request or ClientHello without its SYN.
        for table in ["conn", "http", "tls"] {
            XCTAssertEqual(
                try server.count(
                    """
                    SELECT count() FROM synprint.\(table) WHERE (src_ip, src_port, dst_ip, dst_port) NOT IN \
                    (SELECT src_ip, src_port, dst_ip, dst_port FROM synprint.syn)
                    """), 0, table)
        }
        // The views and the report count connections, not rows: about the run's totals.
        let estimated = try server.count("SELECT sum(connections) FROM synprint.conn_15m")
        XCTAssertEqual(estimated, 3 * (expected["conn"] ?? 0))
        XCTAssertEqual(Double(estimated), Double(all["conn"] ?? 0), accuracy: 0.35 * Double(all["conn"] ?? 0))
        XCTAssertEqual(try server.count("SELECT sum(syns) FROM synprint.syn_15m"), 3 * (expected["syn"] ?? 0))
        let report = try runSynprint(["report", "--clickhouse", server.url, "--summary", "json"])
        XCTAssertEqual(report.status, 0, report.stderr)
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(summary["syns"] as? Int, 3 * (expected["syn"] ?? 0), report.stdout)
    }

    /// With several workers, the workers write the rows but for their identity
    /// (`StoreRenderer`), beside the JSON file's text (`RendererGroup`), and the sink numbers
    /// them in the merged order: the store holds the rows one pipeline gives, every event once
    /// with sequences without a gap, and the sample keeps and counts the same connections.
    func testWorkersWriteTheRowsOneWorkerWrites() throws {
        let server = try ClickHouseServer.started()
        try initialize(server)
        var sampledOut: [Int] = []
        for (sensor, workers) in [("one", 1), ("three", 3)] {
            let store = try makeSink(server.url, sensor: sensor) { $0.sampleEvery = 2 }
            let json = try temporaryFolder().appendingPathComponent("events.jsonl")
            try feed(StoreTests.captures, store: store, json: json, sensor: sensor, workers: workers)
            XCTAssertEqual(store.report.droppedRows, 0)
            sampledOut.append(store.report.sampledOut)
        }
        XCTAssertEqual(sampledOut[0], sampledOut[1], "events the sample left out")
        XCTAssertGreaterThan(sampledOut[0], 0)
        for table in StoreTable.allCases where table != .stats {
            // sensor and event_id are each row's first two columns.
            func rows(_ sensor: String) throws -> [String] {
                try server.rows("SELECT * FROM synprint.\(table.rawValue) WHERE sensor = '\(sensor)'").map {
                    $0.dropFirst(2).joined(separator: "\t")
                }.sorted()
            }
            let one = try rows("one"), three = try rows("three")
            let difference = one.difference(from: three)
            XCTAssertTrue(
                difference.isEmpty, "\(table): \(difference.count) rows differ, e.g. \(difference.first.map { "\($0)".prefix(300) } ?? "")")
            if [.syn, .conn, .flowstats, .tls].contains(table) { XCTAssertGreaterThan(one.count, 0, "\(table) rows") }
        }
        for sensor in ["one", "three"] {
            let sequences = try StoreTable.allCases.flatMap { table in
                try server.rows("SELECT event_id FROM synprint.\(table.rawValue) WHERE sensor = '\(sensor)'").map {
                    Int($0[0].split(separator: "-").last ?? "") ?? -1
                }
            }
            XCTAssertEqual(sequences.sorted(), Array(0..<sequences.count), "\(sensor): every event once, sequences without a gap")
        }
    }

    func testClickHouseStoppedAndStartedAgainLosesNothing() throws {
        let server = try ClickHouseServer.started()
        try initialize(server)
        let folder = try temporaryFolder()
        let json = folder.appendingPathComponent("events.jsonl")
        let spool = try Spool(folder: folder.appendingPathComponent("spool").path, limit: 64 << 20)
        let store = try makeSink(server.url, spool: spool) {
            $0.batchRows = 20  // many batches, some sent before the stop, some spooled during it
            $0.drainSeconds = 60
        }
        try feed(
            StoreTests.captures, store: store, json: json,
            between: {
                try waitFor(seconds: 10) { store.report.batchesSent > 0 }
                server.stop()  // the rest of the capture goes in while it is gone
            },
            end: {
                try waitFor(seconds: 10) { store.report.retries >= 1 }
                try server.start()
            })
        let report = store.report
        XCTAssertGreaterThan(report.retries, 0, "the outage was not noticed")
        XCTAssertEqual(report.droppedRows, 0)
        XCTAssertEqual(report.leftRows, 0)
        XCTAssertTrue(spool.isEmpty)
        try assertStoreHolds(server, json, alerts: 2)
    }

    func testFullSpoolDropsTheOldestCountedAndARestartReplaysIt() throws {
        let server = try ClickHouseServer.started()
        try initialize(server)
        server.stop()  // gone for good, for the first run
        let folder = try temporaryFolder()
        let json = folder.appendingPathComponent("events.jsonl")
        let spoolPath = folder.appendingPathComponent("spool").path
        let spool = try Spool(folder: spoolPath, limit: 20_000)
        let store = try makeSink(server.url, spool: spool) {
            $0.batchRows = 10
            $0.drainSeconds = 0.5
        }
        try feed(StoreTests.captures, store: store, json: json)
        let first = store.report
        let written = try countsByType(json).values.reduce(0, +) + 2  // and the alerts
        XCTAssertGreaterThan(first.droppedRows, 0, "the spool never filled")
        XCTAssertEqual(first.droppedRows, spool.droppedRows)
        XCTAssertLessThanOrEqual(spool.bytes, 20_000)
        XCTAssertEqual(first.leftRows + first.droppedRows, written, "rows neither kept nor counted as dropped")
        // The next start of the sensor replays the spool once ClickHouse is back.
        try server.start()
        let replay = try makeSink(server.url, spool: try Spool(folder: spoolPath, limit: 20_000)) { $0.drainSeconds = 30 }
        replay.finish()
        XCTAssertEqual(replay.report.rowsSent.values.reduce(0, +), first.leftRows)
        XCTAssertEqual(replay.report.leftRows, 0)
        XCTAssertEqual(try storeCounts(server).values.reduce(0, +), first.leftRows)
    }

    /// A web application's checks reach the store from the API's threads: an `http` row with
    /// source `api` each, and an `alert` row for a flagged one; here checks of the real TLS
    /// clients' connections under Chrome's name, so Go's is `tls_mismatch`.
    func testAPIChecksAreRowsOfTheStore() throws {
        let server = try ClickHouseServer.started()
        try initialize(server)
        let capture = try packets(of: fixture("tls-clients.pcap"))
        let collector = EventCollector()
        let sensor = Sensor(
            settings: Settings(), database: try shippedDatabase(), stacks: try shippedTLSStacks(), judging: true, threaded: false,
            handler: collector)
        SynprintTests.feed(capture, to: sensor)
        sensor.finish()
        let judge = try XCTUnwrap(sensor.judge)
        let store = try makeSink(server.url)
        var chrome = HTTPRequestHead(method: "GET")
        chrome.userAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
        let head = chrome
        var flagged = 0
        DispatchQueue.concurrentPerform(iterations: collector.hellos.count) { index in
            let hello = collector.hellos[index]
            let segment = hello.syn.fingerprint.segment
            guard let checked = judge.check(address: segment.ip.source, port: segment.sourcePort, request: head, at: hello.seconds) else {
                return
            }
            let judged = JudgedRequest(
                observation: HTTPObservation(seconds: hello.seconds, microseconds: 0, syn: checked.connection.syn, request: head),
                verdict: checked.verdict)
            store.handle(apiCheck: judged)
            if judged.verdict.flagged { store.handle(apiAlert: judged) }
        }
        for hello in collector.hellos {
            let segment = hello.syn.fingerprint.segment
            if judge.check(address: segment.ip.source, port: segment.sourcePort, request: head, at: hello.seconds)?.verdict.flagged == true
            {
                flagged += 1
            }
        }
        store.finish()
        XCTAssertEqual(try server.count("SELECT count() FROM synprint.http WHERE source = 'api'"), collector.hellos.count)
        XCTAssertEqual(try server.count("SELECT count() FROM synprint.alert WHERE source = 'api'"), flagged)
        XCTAssertGreaterThan(try server.count("SELECT count() FROM synprint.http WHERE has(reasons, 'tls_mismatch')"), 0)
        XCTAssertGreaterThan(flagged, 0)
    }

    /// `db build --clickhouse --tls`: the ClientHellos of connections web applications checked,
    /// labelled by each check's User-Agent, give back the shipped stacks' structure.
    func testBuildFromTheStoreLearnsTLSStacksFromChecks() throws {
        let server = try ClickHouseServer.started()
        try initialize(server)
        let store = try makeSink(server.url)
        let collector = EventCollector()
        let sensor = Sensor(
            settings: Settings(), database: try shippedDatabase(), stacks: try shippedTLSStacks(), judging: true, threaded: false,
            handler: EventFanOut([collector, store], alerts: nil))
        SynprintTests.feed(try packets(of: fixture("tls-clients.pcap")), to: sensor)
        sensor.finish()
        XCTAssertEqual(try checkRealTLSClients(collector.hellos, judge: try XCTUnwrap(sensor.judge)) { store.handle(apiCheck: $0) }, 13)
        store.finish()
        let folder = try temporaryFolder()
        let learned = folder.appendingPathComponent("tls.jsonl")
        let run = try runSynprint([
            "db", "build", "--clickhouse", server.url, "--tls", learned.path, "--min-count", "2", "-o",
            folder.appendingPathComponent("db.jsonl").path,
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("10 by their checks' User-Agents; 3 stacks written"), run.stderr)
        try assertLearnedTheCheckedStacks(learned)
    }

    func testMalformedBatchIsSetAsideAndTheRestDelivered() throws {
        let server = try ClickHouseServer.started()
        try initialize(server)
        let folder = try temporaryFolder().appendingPathComponent("spool")
        let spool = try Spool(folder: folder.path, limit: 1 << 20)
        // A syn row cut short; a stats row as an earlier release spooled it (JSONEachRow); a whole stats row.
        let rows = StoreRows(database: nil, labels: EventLabels(sensor: "x"), runStart: 1)
        let out = TextBuffer(capacity: 1024)
        let figures = StatsFigures(
            seconds: 1_700_000_000, microseconds: 0, packets: 5, syn: 1, synAck: 0, skipped: 0, malformed: 0, libpcap: nil,
            awaitingRequest: 0, requests: 0, flagged: 0, alertsSuppressed: 0)
        rows.identify(1, to: out)
        rows.write(figures, to: out)
        let whole = out.withBytes { [UInt8]($0) }
        spool.add(StoreBatch(sequence: 1, table: "syn", rows: 1, bytes: Array(whole.prefix(20))))
        spool.add(
            StoreBatch(
                sequence: 2, table: "stats", rows: 1,
                bytes: Array("{\"sensor\":\"x\",\"event_id\":\"x-1-0\",\"ts\":1700000000,\"ts_us\":0,\"packets\":5}\n".utf8),
                format: .jsonEachRow))
        spool.add(StoreBatch(sequence: 3, table: "stats", rows: 1, bytes: whole))
        // An earlier release's connection row has no weight: it stands for one connection.
        spool.add(
            StoreBatch(
                sequence: 4, table: "conn", rows: 1,
                bytes: Array("{\"sensor\":\"x\",\"event_id\":\"x-1-1\",\"ts\":1700000000,\"ts_us\":0,\"stage\":\"post_ack\"}\n".utf8),
                format: .jsonEachRow))
        let store = try makeSink(server.url, spool: spool) { $0.drainSeconds = 20 }
        store.finish()
        XCTAssertEqual(store.report.rejectedBatches, 1)
        XCTAssertEqual(store.report.rowsSent, ["stats": 2, "conn": 1])
        XCTAssertEqual(try server.count("SELECT sum(weight) FROM synprint.conn"), 1)
        XCTAssertEqual(try server.count("SELECT sum(connections) FROM synprint.conn_15m"), 1)
        XCTAssertEqual(try server.count("SELECT count() FROM synprint.stats WHERE packets = 5"), 2)
        let rejected = folder.appendingPathComponent("rejected")
        let names = try FileManager.default.contentsOfDirectory(atPath: rejected.path).sorted()
        XCTAssertEqual(names, ["00000000000000000001.syn.1.rowbinary", "00000000000000000001.syn.1.rowbinary.error"])
        let error = try String(contentsOf: rejected.appendingPathComponent(names[1]), encoding: .utf8)
        XCTAssertTrue(error.contains("code 33"), error)
    }

    func testStartProblemsAreOneClearLineAndInitRepairsTheSchema() throws {
        let server = try ClickHouseServer.started()
        func check(_ url: String, user: String? = nil, password: String? = nil) -> StoreSetup.Problem? {
            guard case .success(var address) = StoreAddress.parse(url) else { return nil }
            address.user = user
            address.password = password
            let client = StoreClient(address: address, timeout: 3)
            defer { client.shutdown() }
            do {
                try StoreSetup.check(client)
                return nil
            } catch {
                return error
            }
        }
        let nobody = try freePorts(1)[0]
        let unreachable = try XCTUnwrap(check("http://127.0.0.1:\(nobody)/synprint"))
        XCTAssertTrue(unreachable.unreachable)
        XCTAssertTrue(unreachable.description.contains("does not answer"), unreachable.description)
        let missing = try XCTUnwrap(check(server.url))
        XCTAssertEqual(missing.description, "the ClickHouse database synprint does not exist: run synprint clickhouse init \(server.url)")
        try initialize(server)
        XCTAssertNil(check(server.url))
        XCTAssertNil(check(server.url, user: "sensor", password: "fleet-secret"))
        let refused = try XCTUnwrap(check(server.url, user: "sensor", password: "wrong"))
        XCTAssertTrue(refused.description.contains("refused the credentials of user sensor"), refused.description)
        // An older store: a column this binary writes is missing.
        try server.query("ALTER TABLE synprint.conn DROP COLUMN accecn")
        let old = try XCTUnwrap(check(server.url))
        XCTAssertTrue(old.description.contains("older schema"), old.description)
        XCTAssertTrue(
            old.description.contains("ALTER TABLE `synprint`.conn ADD COLUMN `accecn` UInt8 AFTER `ecn_bleached`"), old.description)
        try initialize(server)  // adds it back, and leaves the rest as it was
        XCTAssertNil(check(server.url))
        XCTAssertEqual(try server.count("SELECT count() FROM system.tables WHERE database = 'synprint'"), 16)
        // A store from before sampling: conn without weight, and a feed that counts rows.
        try server.query("DROP TABLE synprint.conn_15m_feed")
        try server.query("ALTER TABLE synprint.conn DROP COLUMN weight")
        try server.query(
            """
            CREATE MATERIALIZED VIEW synprint.conn_15m_feed TO synprint.conn_15m AS SELECT sensor, \
            toStartOfFifteenMinutes(ts) AS period, client_net, os_class, stage, ending, arrayStringConcat(tags, ',') AS tags, \
            toUInt64(1) AS connections, toUInt64(connected) AS connected FROM synprint.conn
            """)
        try server.query("INSERT INTO synprint.conn (sensor, event_id, ts, stage) VALUES ('old', 'old-1-0', 1700000000, 'post_ack')")
        let old2 = try XCTUnwrap(check(server.url))
        XCTAssertTrue(old2.description.contains("ADD COLUMN `weight` UInt32 DEFAULT 1"), old2.description)
        guard case .success(let address) = StoreAddress.parse(server.url) else { return XCTFail(server.url) }
        let client = StoreClient(address: address)
        defer { client.shutdown() }
        let done = try StoreSetup.initialize(client, cluster: nil, ttlDays: nil)
        XCTAssertTrue(done.contains("conn_15m_feed made again: it now sums the rows' weight"), "\(done)")
        XCTAssertEqual(done.filter { $0.contains("made again") }.count, 1, "\(done)")
        XCTAssertNil(check(server.url))
        XCTAssertEqual(try server.count("SELECT sum(weight) FROM synprint.conn WHERE sensor = 'old'"), 1, "an old row weighs 1")
        // Sampled rows are now counted by their weight.
        try server.query(
            "INSERT INTO synprint.conn (sensor, event_id, ts, stage, weight) VALUES ('new', 'new-1-0', 1700000000, 'post_ack', 7)")
        XCTAssertEqual(try server.count("SELECT sum(connections) FROM synprint.conn_15m WHERE sensor = 'new'"), 7)
    }

    /// An https:// store with a private CA: rows arrive with `--clickhouse-ca`, and a missing or
    /// wrong trust, or a certificate for another host, is one clear line at start.
    func testHTTPSStoreTrustsItsPrivateCA() throws {
        let folder = try temporaryFolder()
        func file(_ name: String) -> String { folder.appendingPathComponent(name).path }
        // A CA, a certificate it signs for 127.0.0.1, and one for another name.
        try makeCertificates(in: folder, [("server", "IP:127.0.0.1"), ("elsewhere", "DNS:elsewhere.test")])
        let ports = try freePorts(6)
        let server = try ClickHouseServer(
            folder: try temporaryFolder(), httpPort: ports[0], tcpPort: ports[1], shards: [[ports[1]]],
            tls: (ports[2], URL(fileURLWithPath: file("server.pem")), URL(fileURLWithPath: file("server.key"))))
        try server.start()
        let other = try ClickHouseServer(
            folder: try temporaryFolder(), httpPort: ports[3], tcpPort: ports[4], shards: [[ports[4]]],
            tls: (ports[5], URL(fileURLWithPath: file("elsewhere.pem")), URL(fileURLWithPath: file("elsewhere.key"))))
        try other.start()
        let url = "https://127.0.0.1:\(ports[2])/synprint"
        let setup = try runSynprint(["clickhouse", "init", url, "--clickhouse-ca", file("ca.pem")])
        XCTAssertEqual(setup.status, 0, setup.stderr)
        let json = folder.appendingPathComponent("events.jsonl")
        let capture = StoreTests.captures[0].path
        let run = try runSynprint([
            "-r", capture, "--json", "--http", "--connections", "--flow-stats", "-o", json.path, "--clickhouse", url, "--clickhouse-ca",
            file("ca.pem"), "--alerts", file("alerts.log"),
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("clickhouse \(url): "), run.stderr)
        let alerts = try String(contentsOfFile: file("alerts.log"), encoding: .utf8).split(separator: "\n").count
        XCTAssertGreaterThan(alerts, 0)
        try assertStoreHolds(server, json, alerts: alerts)
        // Without the CA, with a file that is not one, for an http:// URL, and with a certificate for another name.
        let cases: [([String], String)] = [
            (["--clickhouse", url], "its TLS certificate is not trusted (give the CA that signed it with --clickhouse-ca)"),
            (["--clickhouse", url, "--clickhouse-ca", capture], "cannot read the ClickHouse CA certificates: not PEM certificates"),
            (["--clickhouse", server.url, "--clickhouse-ca", file("ca.pem")], "--clickhouse-ca goes with an https:// URL"),
            (
                ["--clickhouse", "https://127.0.0.1:\(ports[5])/synprint", "--clickhouse-ca", file("ca.pem")],
                "its TLS certificate names another host"
            ),
            (
                ["--clickhouse", "https://127.0.0.1:\(ports[0])/synprint", "--clickhouse-ca", file("ca.pem")],
                "the TLS handshake failed (is it an https port?)"
            ),
        ]
        for (arguments, message) in cases {
            let failed = try runSynprint(["-r", capture, "-o", "/dev/null"] + arguments)
            XCTAssertNotEqual(failed.status, 0, arguments.joined(separator: " "))
            let lines = failed.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, failed.stderr)
            XCTAssertTrue(failed.stderr.hasPrefix("synprint: ") && failed.stderr.contains(message), failed.stderr)
        }
    }

    /// Two sensor processes with their own names into one store: it holds exactly the union of
    /// their JSON files.
    func testTwoSensorsIntoOneStoreHoldTheUnion() throws {
        let server = try ClickHouseServer.started()
        let folder = try temporaryFolder()
        let initRun = try runSynprint(["clickhouse", "init", server.url])
        XCTAssertEqual(initRun.status, 0, initRun.stderr)
        let runs = [("edge-a", StoreTests.captures[0]), ("edge-b", StoreTests.captures[2])].map { name, capture in
            let json = folder.appendingPathComponent("\(name).jsonl")
            let process = Process()
            process.executableURL = synprintExecutable
            process.arguments = [
                "-r", capture.path, "--json", "--http", "--connections", "--flow-stats", "-o", json.path, "--sensor-name", name,
                "--clickhouse", server.url, "--alerts", folder.appendingPathComponent("\(name).alerts").path,
            ]
            process.standardError = FileHandle.nullDevice
            return (name, json, process)
        }
        for (_, _, process) in runs { try process.run() }
        for (name, json, process) in runs {
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, name)
            var expected = try countsByType(json)
            let alerts = try jsonLines(of: folder.appendingPathComponent("\(name).alerts")).count
            if alerts > 0 { expected["alert"] = alerts }
            var stored: [String: Int] = [:]
            for table in StoreTable.allCases {
                let n = try server.count("SELECT count() FROM synprint.\(table.rawValue) FINAL WHERE sensor = '\(name)'")
                if n > 0 { stored[table.rawValue] = n }
            }
            XCTAssertEqual(stored, expected, name)
            let fromJSON = try jsonLines(of: json).filter { $0["type"] as? String == "conn" }.map { "\($0["src_ip"]!):\($0["src_port"]!)" }
            let fromStore = try server.rows("SELECT src_ip, src_port FROM synprint.conn WHERE sensor = '\(name)'").map {
                "\($0[0]):\($0[1])"
            }
            XCTAssertEqual(fromStore.sorted(), fromJSON.sorted(), name)
        }
    }

    /// `clickhouse init --cluster` on two servers: rows sent to one spread over both shards, and
    /// the Distributed tables read every row once.
    func testTwoShardClusterHoldsEveryRowOnce() throws {
        let servers = try ClickHouseServer.cluster()
        // A cluster the servers do not know is one clear line, and creates nothing.
        let unknown = try runSynprint(["clickhouse", "init", "--cluster", "fleat", servers[0].url])
        XCTAssertEqual(unknown.status, 1, unknown.stderr)
        XCTAssertTrue(unknown.stderr.contains("the server knows no cluster fleat"), unknown.stderr)
        XCTAssertTrue(unknown.stderr.contains("it knows: fleet"), unknown.stderr)
        for server in servers { try initialize(server, cluster: "fleet") }
        let json = try temporaryFolder().appendingPathComponent("events.jsonl")
        let store = try makeSink(servers[0].url)
        try feed(StoreTests.captures, store: store, json: json)
        XCTAssertEqual(store.report.droppedRows, 0)
        var expected = try countsByType(json)
        expected.removeValue(forKey: "stats")
        expected["alert"] = 2
        // The Distributed engine forwards to the other shard in the background.
        try waitFor(seconds: 30) {
            var counts = (try? storeCounts(servers[0], final: false)) ?? [:]
            counts.removeValue(forKey: "stats")
            return counts == expected
        }
        let locals = try servers.map { try $0.count("SELECT count() FROM synprint.syn_local") }
        XCTAssertTrue(locals.allSatisfy { $0 > 0 }, "one shard holds no SYN: \(locals)")
        XCTAssertEqual(locals.reduce(0, +), expected["syn"])
        XCTAssertEqual(try servers[1].count("SELECT sum(connections) FROM synprint.conn_15m"), expected["conn"])
    }

    /// A shard of two replicas (ZooKeeper between them), laid out by `clickhouse init --cluster
    /// --replicated`: a run sent to one server is on both, each row once, views included; and
    /// with one replica stopped, the other still takes rows and hands them on when it is back.
    func testReplicatedShardKeepsEveryRowOnBothReplicas() throws {
        let zookeeper = try ZooKeeperServer()
        let servers = try ClickHouseServer.replicas(zookeeper: zookeeper)
        // The servers' first ZooKeeper session may time out on a machine busy with other work:
        // init is safe to run again.
        var setup = try runSynprint(["clickhouse", "init", "--cluster", "fleet", "--replicated"] + servers.map(\.url))
        for _ in 0..<5 where setup.status != 0 && setup.stderr.contains("ZooKeeper") {
            sleep(2)
            setup = try runSynprint(["clickhouse", "init", "--cluster", "fleet", "--replicated"] + servers.map(\.url))
        }
        XCTAssertEqual(setup.status, 0, setup.stderr)
        XCTAssertEqual(
            try servers[1].count("SELECT count() FROM system.replicas WHERE database = 'synprint'"),
            StoreTable.allCases.count + StoreSchema.views.count)
        let folder = try temporaryFolder()
        func send(_ capture: URL, to server: ClickHouseServer, as sensor: String) throws -> URL {
            let json = folder.appendingPathComponent("\(sensor).jsonl")
            let run = try runSynprint([
                "-r", capture.path, "--json", "--http", "--connections", "--flow-stats", "-o", json.path, "--sensor-name", sensor,
                "--clickhouse", server.url, "--alerts", folder.appendingPathComponent("\(sensor).alerts").path,
            ])
            XCTAssertEqual(run.status, 0, run.stderr)
            return json
        }
        func expected(_ jsons: [URL]) throws -> [String: Int] {
            var counts: [String: Int] = [:]
            for json in jsons { counts.merge(try countsByType(json), uniquingKeysWith: +) }
            let alerts = try jsons.map {
                try String(contentsOf: $0.deletingPathExtension().appendingPathExtension("alerts"), encoding: .utf8)
                    .split(separator: "\n").count
            }.reduce(0, +)
            if alerts > 0 { counts["alert"] = alerts }
            return counts
        }
        func locals(_ server: ClickHouseServer) -> [String: Int] {
            var counts = (try? storeCounts(server, table: "_local", final: false)) ?? [:]
            counts.removeValue(forKey: "stats")
            return counts
        }
        var jsons = [try send(StoreTests.captures[0], to: servers[0], as: "edge-a")]
        let first = try expected(jsons)
        try waitFor(seconds: 30) { servers.allSatisfy { locals($0) == first } }
        XCTAssertEqual(try servers[1].count("SELECT sum(connections) FROM synprint.conn_15m_local"), first["conn"])
        // Reading through the Distributed table sees each row once, from one replica.
        var distributed = try storeCounts(servers[1], final: false)
        distributed.removeValue(forKey: "stats")
        XCTAssertEqual(distributed, first)
        // One replica down: the other takes the next run, and the stopped one catches up when it is back.
        servers[1].stop()
        jsons.append(try send(StoreTests.captures[2], to: servers[0], as: "edge-b"))
        let both = try expected(jsons)
        XCTAssertEqual(locals(servers[0]), both)
        try servers[1].start()
        try waitFor(seconds: 30) { locals(servers[1]) == both }
        withExtendedLifetime(zookeeper) {}  // it serves the replicas to the end
    }

    /// `synprint report --clickhouse` on a store that holds one run equals `synprint report` on
    /// that run's capture: the tables as JSON and as text, and the chart.
    func testReportFromTheStoreEqualsTheReportFromTheCapture() throws {
        let server = try ClickHouseServer.started()
        let folder = try temporaryFolder()
        XCTAssertEqual(try runSynprint(["clickhouse", "init", server.url]).status, 0)
        let capture = fixture("connections.pcap").path
        let sent = try runSynprint(["-r", capture, "--classify", "--connections", "-o", "/dev/null", "--clickhouse", server.url])
        XCTAssertEqual(sent.status, 0, sent.stderr)
        for format in ["json", "text"] {
            let fromCapture = try runSynprint([
                "report", capture, "--summary", format, "--chart", folder.appendingPathComponent("a.svg").path,
            ])
            let fromStore = try runSynprint([
                "report", "--clickhouse", server.url, "--summary", format, "--chart", folder.appendingPathComponent("b.svg").path,
            ])
            XCTAssertEqual(fromStore.status, 0, fromStore.stderr)
            XCTAssertEqual(fromCapture.status, 0, fromCapture.stderr)
            // Both print the tables on standard output, the run's own lines on standard error.
            let tables = fromCapture.stdout
            XCTAssertFalse(fromCapture.stderr.contains(format == "json" ? "{\"type\":\"summary\"" : "summary: "), fromCapture.stderr)
            XCTAssertEqual(fromStore.stdout.trimmingCharacters(in: .newlines), tables.trimmingCharacters(in: .newlines), format)
            XCTAssertTrue(tables.contains("post_ack"), tables)
            let charts = try ["a.svg", "b.svg"].map { try String(contentsOf: folder.appendingPathComponent($0), encoding: .utf8) }
            XCTAssertEqual(charts[0], charts[1])
        }
        // Scopes: another sensor's rows, rows of the future, one client network.
        let none = try runSynprint(["report", "--clickhouse", server.url, "--sensor", "elsewhere", "--summary", "json"])
        XCTAssertTrue(none.stdout.hasPrefix("{\"type\":\"summary\",\"syns\":0,"), none.stdout)
        let recent = try runSynprint(["report", "--clickhouse", server.url, "--since", "1h", "--summary", "json"])
        XCTAssertTrue(recent.stdout.hasPrefix("{\"type\":\"summary\",\"syns\":0,"), "the fixture is from 2023: \(recent.stdout)")
        let network = try XCTUnwrap(
            try server.rows("SELECT client_net, count() FROM synprint.conn GROUP BY client_net ORDER BY count() DESC LIMIT 1").first)
        let narrowed = try runSynprint(["report", "--clickhouse", server.url, "--network", network[0], "--summary", "json"])
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(narrowed.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((object["connections"] as? [String: Any])?["ended"] as? Int, Int(network[1]), narrowed.stdout)
        let bad = try runSynprint(["report", "--clickhouse", server.url, "--network", "10.0.0.0/33"])
        XCTAssertEqual(bad.status, 64)
        XCTAssertTrue(bad.stderr.contains("--network takes a CIDR"), bad.stderr)
    }

    /// `db build --clickhouse` learns from the http rows of the fleet what `db build -r` learns
    /// from the same captures: the same keys with the same counts, and the same exclusions.
    func testBuildFromTheStoreLearnsWhatTheCapturesTeach() throws {
        let server = try ClickHouseServer.started()
        let folder = try temporaryFolder()
        XCTAssertEqual(try runSynprint(["clickhouse", "init", server.url]).status, 0)
        let captures = [StoreTests.captures[0].path, StoreTests.captures[1].path]
        let sent = try runSynprint(captures.flatMap { ["-r", $0] } + ["--http", "-o", "/dev/null", "--clickhouse", server.url])
        XCTAssertEqual(sent.status, 0, sent.stderr)
        let fromCaptures = folder.appendingPathComponent("captures.jsonl"), fromStore = folder.appendingPathComponent("store.jsonl")
        let a = try runSynprint(["db", "build"] + captures.flatMap { ["-r", $0] } + ["--min-count", "1", "-o", fromCaptures.path])
        let b = try runSynprint(["db", "build", "--clickhouse", server.url, "--min-count", "1", "-o", fromStore.path])
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(b.status, 0, b.stderr)
        func entries(_ url: URL) throws -> [String: String] {
            try String(contentsOf: url, encoding: .utf8).split(separator: "\n").filter { $0.hasPrefix("{\"id\"") }.reduce(into: [:]) {
                let object = try JSONSerialization.jsonObject(with: Data($1.utf8)) as? [String: Any] ?? [:]
                let counts = (object["counts"] as? [String: Int] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                $0[object["id"] as? String ?? ""] = "\(object["class"] ?? "") \(counts.joined(separator: ","))"
            }
        }
        let learned = try entries(fromCaptures)
        XCTAssertGreaterThan(learned.count, 5)
        XCTAssertEqual(try entries(fromStore), learned)
        XCTAssertTrue(a.stderr.contains("excluded: tcp_family_disagrees 1"), a.stderr)
        XCTAssertTrue(b.stderr.contains("labelled SYNs kept, excluded: tcp_family_disagrees 1"), b.stderr)
        let none = try runSynprint(["db", "build", "--clickhouse", server.url, "--since", "1h", "-o", fromStore.path])
        XCTAssertTrue(none.stderr.contains("0 requests from"), none.stderr)
    }

    /// A sensor reading a pipe that stays open (as a live capture does) sends its rows within
    /// about a second of the events, and on SIGTERM delivers what it holds and stops promptly.
    func testPipedCaptureReachesTheStoreAndStopsOnSIGTERM() throws {
        let server = try ClickHouseServer.started()
        XCTAssertEqual(try runSynprint(["clickhouse", "init", server.url]).status, 0)
        let folder = try temporaryFolder()
        let json = folder.appendingPathComponent("events.jsonl")
        let process = Process()
        process.executableURL = synprintExecutable
        process.arguments = [
            "-r", "-", "--json", "--http", "--connections", "-o", json.path, "--clickhouse", server.url,
            "--clickhouse-spool", folder.appendingPathComponent("spool").path,
        ]
        let input = Pipe()
        process.standardInput = input
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(try Data(contentsOf: StoreTests.captures[0]))
        // The SYNs arrive while the pipe is still open: batches go at least every second.
        try waitFor(seconds: 10) { (try? server.count("SELECT count() FROM synprint.syn")) == 6 }
        let stopped = Date()
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(stopped), 12, "the stop took longer than the drain")
        XCTAssertEqual(process.terminationStatus, 128 + SIGTERM, "a stop cuts a run of files short")
        // What the JSON file got, the store got: the connections ended by the stop included.
        var expected = try countsByType(json)
        expected["alert"] = 2
        var stored = try storeCounts(server)
        stored.removeValue(forKey: "stats")
        XCTAssertEqual(stored, expected)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("spool").path), ["rejected"])
    }

    /// A server on loopback that answers every request with `status`, the `headers` and what
    /// `answer` (Python, of the request's body `q`) gives, or with a chunked answer that never
    /// ends; it appends each request's first line and headers to `log`; stopped when the test ends.
    func fakeServer(
        answer: String = "''", status: Int = 200, headers: [(String, String)] = [], endless: Bool = false, log: URL? = nil
    )
        throws -> String
    {
        let port = try freePorts(1)[0]
        let fake = Process()
        fake.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let sent = headers.map { "self.send_header('\($0.0)', '\($0.1)'); " }.joined()
        fake.arguments = [
            "python3", "-c",
            """
            import http.server
            class H(http.server.BaseHTTPRequestHandler):
                protocol_version = 'HTTP/1.1' if \(endless ? "True" : "False") else 'HTTP/1.0'
                def do_POST(self):
                    q = self.rfile.read(int(self.headers.get('Content-Length') or 0)).decode()
                    if \(log == nil ? "False" : "True"):
                        with open('\(log?.path ?? "")', 'a') as f: f.write(self.requestline + '\\n' + str(self.headers))
                    self.send_response(\(status)); \(sent)
                    if \(endless ? "True" : "False"):
                        self.send_header('Transfer-Encoding', 'chunked'); self.end_headers()
                        try:
                            while True: self.wfile.write(b'10000\\r\\n' + b'x' * 65536 + b'\\r\\n')
                        except OSError: return
                    self.end_headers(); self.wfile.write((\(answer)).encode())
                do_GET = do_POST
                def log_message(self, *a): pass
            http.server.ThreadingHTTPServer(('127.0.0.1', \(port)), H).serve_forever()
            """,
        ]
        try fake.run()
        addTeardownBlock { fake.terminate() }
        try waitFor(seconds: 10) {
            do {
                try StoreClient(address: StoreAddress(base: "http://127.0.0.1:\(port)", database: "x")).execute("SELECT 1")
                return true
            } catch StoreError.unreachable(_) {
                return false
            } catch {
                return true
            }
        }
        if let log { try? FileManager.default.removeItem(at: log) }  // the readiness check's request
        return "http://127.0.0.1:\(port)/synprint"
    }

    /// A server that redirects: the credentials never go to the other address, nothing counts as
    /// sent there, and the line says why. An answer that never ends is refused past its bound,
    /// before the deadline, instead of filling memory.
    func testRedirectsAreNotFollowedAndEndlessAnswersAreCut() throws {
        let folder = try temporaryFolder()
        let otherLog = folder.appendingPathComponent("other.log")
        let other = try fakeServer(answer: "'24.3.1.1\\n'", log: otherLog)
        let redirecting = try fakeServer(status: 307, headers: [("Location", other.replacingOccurrences(of: "/synprint", with: "/"))])
        let credentials = folder.appendingPathComponent("credentials")
        try "alice:s3cret\n".write(to: credentials, atomically: true, encoding: .utf8)
        XCTAssertEqual(chmod(credentials.path, 0o600), 0)
        let initRun = try runSynprint(["clickhouse", "init", "--clickhouse-credentials", credentials.path, redirecting])
        XCTAssertNotEqual(initRun.status, 0, initRun.stderr)
        XCTAssertTrue(initRun.stderr.contains("a redirect to \(other.replacingOccurrences(of: "/synprint", with: "/"))"), initRun.stderr)
        let sensor = try runSynprint(
            [
                "-r", StoreTests.captures[0].path, "--clickhouse", redirecting, "--clickhouse-credentials", credentials.path, "-o",
                "/dev/null",
            ])
        XCTAssertNotEqual(sensor.status, 0, sensor.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: otherLog.path), "the other address was asked")
        let endless = try fakeServer(endless: true)
        let started = Date()
        let cut = try runSynprint(["clickhouse", "init", endless])
        XCTAssertEqual(cut.status, 1, cut.stderr)
        XCTAssertTrue(cut.stderr.contains("an answer longer than 16 MiB"), cut.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 9, "cut before the 10 s deadline")
    }

    /// A server that answers every request with 200 and text that is not ClickHouse's (a
    /// captive proxy, a wrong port): the report and the sensor's start say so in one line.
    func testAnAnswerThatIsNotClickHousesIsOneClearLine() throws {
        let url = try fakeServer(answer: "'<html>hello\\tworld</html>\\n'")
        let report = try runSynprint(["report", "--clickhouse", url])
        XCTAssertEqual(report.status, 1)
        XCTAssertEqual(report.stderr.split(separator: "\n").count, 1, report.stderr)
        XCTAssertTrue(report.stderr.contains("without its 8 columns"), report.stderr)
        let sensor = try runSynprint(["-r", StoreTests.captures[0].path, "--clickhouse", url])
        XCTAssertEqual(sensor.status, 1)
        XCTAssertTrue(sensor.stderr.contains("ClickHouse at \(url)"), sensor.stderr)
    }

    /// Counts no store holds (sums at Int's limit, which adding would overflow) are one clear
    /// line too.
    func testAnAnswerWithImpossibleCountsIsOneClearLine() throws {
        let huge = "Linux\\tLinux\\t\\t\\t\\\\N\\t0\\t0\\t9223372036854775807\\n"
        let url = try fakeServer(answer: "'24.3.1.1\\n' if 'version()' in q else ('\(huge)' * 2 if 'FROM syn WHERE' in q else '')")
        let report = try runSynprint(["report", "--clickhouse", url])
        XCTAssertEqual(report.status, 1, report.stderr)
        XCTAssertEqual(report.stderr.split(separator: "\n").count, 1, report.stderr)
        XCTAssertTrue(report.stderr.contains("beyond"), report.stderr)
    }
}
