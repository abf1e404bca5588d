import Foundation
import XCTest

@testable import API
@testable import Decode
@testable import Formatting
@testable import Output
@testable import SynprintKit
@testable import Verdict

/// What operators and SIEM pipelines read: flow hashes, request fingerprints, schemas, the
/// summary, metrics, p0f's log lines and the configuration file.
final class ObservabilityTests: XCTestCase {
    // MARK: Community ID and JA4H

    /// The specification's published example (TCP 128.232.110.120:34855 → 66.35.250.204:80), with
    /// seed 0 and 1, and the same hash whichever endpoint sent the packet.
    func testCommunityIDMatchesThePublishedVectors() {
        func id(_ a: String, _ ap: UInt16, _ b: String, _ bp: UInt16, seed: UInt16 = 0) -> String {
            let out = TextBuffer()
            CommunityID.append(
                source: IPAddress(a)!, sourcePort: ap, destination: IPAddress(b)!, destinationPort: bp, seed: seed,
                to: out)
            return out.string
        }
        XCTAssertEqual(id("128.232.110.120", 34855, "66.35.250.204", 80), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
        XCTAssertEqual(id("66.35.250.204", 80, "128.232.110.120", 34855), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
        XCTAssertEqual(id("128.232.110.120", 34855, "66.35.250.204", 80, seed: 1), "1:3V71V58M3Ksw/yuFALMcW0LAHvc=")
        let v6 = id("2001:db8::1", 1000, "2001:db8::2", 443)
        XCTAssertEqual(v6, id("2001:db8::2", 443, "2001:db8::1", 1000))
        XCTAssertTrue(v6.hasPrefix("1:") && v6.count == 30)
    }

    /// JA4H of two requests, checked against an independent implementation of FoxIO's
    /// specification: cookies sorted by name, Referer and Cookie left out of the header list,
    /// the language's first four letters.
    func testJA4HOfRequests() {
        func add(_ builder: inout JA4HBuilder, _ name: String, _ value: String) {
            Array(name.utf8).withUnsafeBytes { name in Array(value.utf8).withUnsafeBytes { builder.add(header: name, value: $0) } }
        }
        var browser = JA4HBuilder(method: "GET", version: "11")
        for (name, value) in [
            ("Host", "example.test"), ("User-Agent", "Mozilla/5.0"), ("Accept", "*/*"), ("Accept-Language", "en-US,en;q=0.9"),
            ("Cookie", "b=2; a=1"), ("Referer", "https://example.test/"),
        ] {
            add(&browser, name, value)
        }
        XCTAssertEqual(browser.fingerprint, "ge11cr04enus_8ddaef5d77af_1eb7c54d5283_06beefe2b477")
        var post = JA4HBuilder(method: "POST", version: "10")
        add(&post, "Host", "example.test")
        XCTAssertEqual(post.fingerprint, "po10nn010000_4a823118b9ba_000000000000_000000000000")
    }

    // MARK: Schemas

    /// ECS and EVE events carry their schema's names for what they share with the native object,
    /// which they keep whole under `synprint`.
    func testECSAndEVEEventsCarryTheirSchemasNames() throws {
        for schema in ["ecs", "eve"] {
            let run = try runSynprint([
                "-r", sample("verdicts"), "--json", "--classify", "--http", "--event-schema", schema, "--sensor-name", "edge-1",
            ])
            XCTAssertEqual(run.status, 0, run.stderr)
            let events = jsonLines(run.stdout)
            XCTAssertEqual(events.count, 18)
            for event in events {
                let native = try XCTUnwrap(event["synprint"] as? [String: Any])
                let community = try XCTUnwrap(native["community_id"] as? String)
                XCTAssertEqual(native["sensor"] as? String, "edge-1")
                if schema == "eve" {
                    XCTAssertEqual(event["event_type"] as? String, native["type"] as? String)
                    XCTAssertEqual(event["src_ip"] as? String, native["src_ip"] as? String)
                    XCTAssertEqual(event["dest_ip"] as? String, native["dst_ip"] as? String)
                    XCTAssertEqual(event["dest_port"] as? Int, native["dst_port"] as? Int)
                    XCTAssertEqual(event["proto"] as? String, "TCP")
                    XCTAssertEqual(event["community_id"] as? String, community)
                    XCTAssertEqual(event["timestamp"] as? String, native["ts"] as? String)
                } else {
                    XCTAssertEqual(event["@timestamp"] as? String, native["ts"] as? String)
                    let source = try XCTUnwrap(event["source"] as? [String: Any])
                    XCTAssertEqual(source["ip"] as? String, native["src_ip"] as? String)
                    let network = try XCTUnwrap(event["network"] as? [String: Any])
                    XCTAssertEqual(network["community_id"] as? String, community)
                    XCTAssertEqual((event["observer"] as? [String: Any])?["name"] as? String, "edge-1")
                    XCTAssertEqual((event["event"] as? [String: Any])?["dataset"] as? String, "synprint.\(native["type"]!)")
                }
            }
        }
    }

    // MARK: Summary

    /// `--summary json` counts what the JSON events of the same run say.
    func testSummaryCountsEqualTheEventsOfTheSameRun() throws {
        for name in ["mixed-os", "verdicts"] {
            let run = try runSynprint(["-r", sample(name), "--json", "--classify", "--http", "--summary", "json"])
            XCTAssertEqual(run.status, 0, run.stderr)
            let summaryLine = try XCTUnwrap(run.stderr.split(separator: "\n").last { $0.hasPrefix("{\"type\":\"summary\"") })
            let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(summaryLine.utf8)) as? [String: Any])
            let events = jsonLines(run.stdout)
            func tally(_ type: String, _ key: (([String: Any]) -> [String])) -> [String: Int] {
                events.filter { $0["type"] as? String == type }.flatMap(key).reduce(into: [:]) { $0[$1, default: 0] += 1 }
            }
            let syns = events.filter { $0["type"] as? String == "syn" }
            let requests = events.filter { $0["type"] as? String == "http" }
            XCTAssertEqual(summary["syns"] as? Int, syns.count)
            XCTAssertEqual(summary["synacks"] as? Int, events.filter { $0["type"] as? String == "synack" }.count)
            XCTAssertEqual(summary["requests"] as? Int, requests.count)
            XCTAssertEqual(
                summary["flagged"] as? Int, requests.filter { ($0["verdict"] as? [String: Any])?["flagged"] as? Bool == true }.count)
            let osClass = { (event: [String: Any]) in [(event["os"] as? [String: Any])?["class"] as? String ?? "unknown"] }
            XCTAssertEqual(summary["client_classes"] as? [String: Int], tally("syn", osClass))
            XCTAssertEqual(summary["server_classes"] as? [String: Int], tally("synack", osClass))
            let link = { (event: [String: Any]) -> [String] in
                guard let path = event["path"] as? [String: Any], let link = path["link"] as? String else { return ["no MSS"] }
                return ["\(link) (\(path["mtu"]!))"]
            }
            XCTAssertEqual(summary["links"] as? [String: Int], tally("syn", link))
            XCTAssertEqual(
                summary["verdict_reasons"] as? [String: Int],
                tally("http") { ($0["verdict"] as? [String: Any])?["reasons"] as? [String] ?? [] })
            XCTAssertEqual(
                summary["flagged_clients"] as? [String: Int],
                tally("http") { ($0["verdict"] as? [String: Any])?["flagged"] as? Bool == true ? [$0["src_ip"] as! String] : [] })
        }
    }

    /// `synprint report`: the same aggregates as the conn events of a `--connections` run,
    /// and a chart that gnuplot drew with every stage and the client network in it.
    func testReportTablesAgreeWithTheConnEventsAndTheChartIsDrawn() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let capture = fixture("connections.pcap").path
        let chart = folder.appendingPathComponent("stages.svg").path
        let report = try runSynprint(["report", capture, "--chart", chart, "--summary", "json"])
        XCTAssertEqual(report.status, 0, report.stderr)
        let summaryLine = try XCTUnwrap(report.stdout.split(separator: "\n").last { $0.hasPrefix("{\"type\":\"summary\"") })
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(summaryLine.utf8)) as? [String: Any])
        let connections = try XCTUnwrap(summary["connections"] as? [String: Any])

        let events = jsonLines(try runSynprint(["-r", capture, "--json", "--classify", "--connections"]).stdout)
        let conns = events.filter { $0["type"] as? String == "conn" }
        XCTAssertEqual(connections["ended"] as? Int, conns.count)
        let stages = conns.reduce(into: [String: Int]()) { $0[$1["stage"] as! String, default: 0] += 1 }
        XCTAssertEqual(connections["stages"] as? [String: Int], stages)
        let linux = conns.filter { ($0["os"] as? [String: Any])?["class"] as? String == "Linux" }
        let adoption = try XCTUnwrap((connections["adoption_by_class"] as? [String: Any])?["Linux"] as? [String: Any])
        XCTAssertEqual(adoption["connections"] as? Int, linux.count)
        let asked = linux.filter { $0["ecn"] as? String != "not_requested" }.count
        XCTAssertEqual(adoption["ecn_asked"] as! Double, Double(asked) / Double(linux.count), accuracy: 0.001)

        let svg = try String(contentsOfFile: chart, encoding: .utf8)
        XCTAssertTrue(svg.contains("<svg"))
        for text in ["\(conns.count) connections", "post_syn", "post_ack", "post_psh", "later", "normal", "10.78.1.0/24"] {
            XCTAssertTrue(svg.contains(text), "the chart lacks \(text)")
        }
        // Filled bars: one path per stage and bucket with connections, at least.
        XCTAssertGreaterThan(svg.components(separatedBy: "<path").count, stages.count * 2)

        // Nothing to draw: said, and the chart already there is left alone.
        let nothing = try runSynprint(["report", capture, "--filter", "port 9", "--chart", chart])
        XCTAssertEqual(nothing.status, 0, nothing.stderr)
        XCTAssertTrue(nothing.stderr.contains("no connection ended"), nothing.stderr)
        XCTAssertEqual(try String(contentsOfFile: chart, encoding: .utf8), svg)

        let refused = try runSynprint(["-r", capture, "--chart", chart])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--chart needs --connections"), refused.stderr)

        // A chart that cannot be written is an output's failure (3), said once, after the tables.
        let unwritable = try runSynprint(["report", capture, "--chart", "/dev/full"])
        XCTAssertEqual(unwritable.status, 3, unwritable.stderr)
        XCTAssertTrue(unwritable.stderr.contains("No space left on device"), unwritable.stderr)
        XCTAssertTrue(unwritable.stdout.contains("stages"), unwritable.stdout)
    }

    // MARK: Metrics

    /// Every counter the operations guide lists is exported, and moves when a capture is read.
    func testMetricsAppearAndMoveOnAKnownCapture() throws {
        let capture = try packets(of: URL(fileURLWithPath: sample("verdicts")))
        let sink = EventSink(file: try OutputFile(path: "/dev/null", mode: .append))
        let database = try shippedDatabase()
        let log = EventLog(
            format: .json, database: database, labels: EventLabels(sensor: "test"), sink: sink, alerts: nil, observations: nil)
        let limiter = AlertLimiter(perHost: 10, window: 60, perSecond: 100)
        let sensor = Sensor(settings: Settings(), database: database, judging: true, threaded: false, handler: log)
        sensor.publishStatus()
        log.idle()
        let before = metricValues(sensor, log, limiter)
        feed(capture, to: sensor, log: log)
        let after = metricValues(sensor, log, limiter)
        // Without the capture filter the sensor sees every packet, the bare ACKs too.
        let total = capture.packets.count
        let moved = [
            "synprint_packets": total, "synprint_skipped{reason=tcp_not_syn}": total - 12, "synprint_fingerprinted{packet=syn}": 6,
            "synprint_fingerprinted{packet=synack}": 6,
            "synprint_events_written": 18, "synprint_requests_judged": 6, "synprint_requests_flagged": 2,
            "synprint_os{class=Windows,packet=syn}": 4, "synprint_os{class=Linux,packet=synack}": 6,
            "synprint_verdict_reasons{reason=os_mismatch}": 1, "synprint_tunnel_paths": 1, "synprint_clamped_paths": 1,
            "synprint_hosts": 6,
        ]
        for (name, value) in moved {
            XCTAssertEqual(before[name] ?? 0, 0, name)
            XCTAssertEqual(after[name], Double(value), name)
        }
        for name in [
            "synprint_host_evictions", "synprint_connection_evictions", "synprint_alerts_suppressed",
            "synprint_malformed{reason=bad_tcp_offset}",
        ] {
            XCTAssertNotNil(after[name], name)
        }
        // Rendered in Prometheus's text format, with help and type lines.
        let exporter = MetricsExporter { [monitor = sensor.monitor] in sensorMetrics(monitor, log, limiter, []) }
        let text = exporter.render()
        XCTAssertTrue(text.contains("# TYPE synprint_packets counter"), text)
        XCTAssertTrue(text.contains("synprint_packets \(total)\n"), text)
        XCTAssertTrue(text.contains(#"synprint_os{class="Windows",packet="syn"} 4"# + "\n"), text)
    }

    /// With flow statistics, the windows written and the tables' evictions are exported.
    func testFlowMetricsCountWindowsAndEvictions() throws {
        let capture = try packets(of: fixture("tunnels.pcap"))
        let sink = EventSink(file: try OutputFile(path: "/dev/null", mode: .append))
        let log = EventLog(format: .json, database: nil, labels: EventLabels(sensor: "test"), sink: sink, alerts: nil, observations: nil)
        var settings = Settings()
        settings.maxFlowClients = 8  // fewer than the capture's 22 clients
        let sensor = Sensor(settings: settings, database: nil, judging: false, flowStatistics: true, threaded: false, handler: log)
        feed(capture, to: sensor, log: log)
        let values = metricValues(sensor, log, AlertLimiter(perHost: 1, window: 60, perSecond: 1))
        let counters = try XCTUnwrap(sensor.pipeline.flowStats?.counters)
        XCTAssertGreaterThan(counters.clientsEvicted, 0)
        XCTAssertEqual(values["synprint_flow_windows"], Double(counters.windows))
        XCTAssertEqual(values["synprint_flow_evicted{table=clients}"], Double(counters.clientsEvicted))
        XCTAssertEqual(values["synprint_flow_evicted{table=connections}"], Double(counters.connectionsEvicted))
        XCTAssertEqual(values["synprint_flow_clients"], 0)
    }

    /// `--metrics` serves `/metrics` while a capture runs (here: a pipe that stays open).
    func testMetricsAreServedWhileTheCaptureRuns() throws {
        let folder = try temporaryFolder()
        let fifo = folder.appendingPathComponent("capture").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let port = 19_000 + Int.random(in: 0..<2000)
        let process = Process()
        process.executableURL = synprintExecutable
        process.arguments = ["-r", fifo, "--classify", "--http", "--allow-root", "--metrics", "127.0.0.1:\(port)", "-o", "/dev/null"]
        let errors = folder.appendingPathComponent("stderr")
        XCTAssertTrue(FileManager.default.createFile(atPath: errors.path, contents: nil))
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        // Read and write ends open without waiting for each other, so a failed start cannot hang the test.
        let descriptor = open(fifo, O_RDWR)
        XCTAssertGreaterThanOrEqual(descriptor, 0)
        let writer = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        writer.write(try Data(contentsOf: URL(fileURLWithPath: sample("verdicts"))))
        var text = ""
        for _ in 0..<50 where process.isRunning && !text.contains(#"synprint_os{class="Windows",packet="syn"} 4"#) {
            Thread.sleep(forTimeInterval: 0.1)
            text = (try? String(contentsOf: URL(string: "http://127.0.0.1:\(port)/metrics")!, encoding: .utf8)) ?? ""
        }
        writer.closeFile()
        process.waitUntilExit()
        let stderr = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        XCTAssertTrue(text.contains(#"synprint_os{class="Windows",packet="syn"} 4"#), text + stderr)
        XCTAssertTrue(text.contains("synprint_requests_judged 6"), text)
        XCTAssertEqual(process.terminationStatus, 0, stderr)
    }

    // MARK: p0f's log lines

    /// SYN, SYN+ACK and MTU lines carry the fields p0f 3.09b writes for the same packets, in its
    /// order and with its `raw_sig` and `raw_mtu` (the logs beside the captures are p0f's own;
    /// `os`, `params` and `link` name synprint's database). The windows capture reaches each of
    /// p0f's window-multiple rules. When p0f is installed, it is run again to check the logs.
    func testP0fLogLinesMatchP0fsOwn() throws {
        for (capture, log) in [
            (sample("mixed-os"), "mixed-os.p0f.log"), (sample("verdicts"), "verdicts.p0f.log"),
            (fixture("p0f-windows.pcap").path, "p0f-windows.p0f.log"),
        ] {
            let theirs = try String(contentsOf: fixture(log), encoding: .utf8)
            let p0f = ["/usr/sbin/p0f", "/usr/bin/p0f"].first { FileManager.default.isExecutableFile(atPath: $0) }
            if let p0f, FileManager.default.fileExists(atPath: "/etc/p0f/p0f.fp") {
                let folder = try temporaryFolder()
                let fresh = folder.appendingPathComponent("p0f.log")
                let process = Process()
                process.executableURL = URL(fileURLWithPath: p0f)
                process.arguments = ["-r", capture, "-o", fresh.path]
                process.environment = ["TZ": "UTC"]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                process.waitUntilExit()
                XCTAssertEqual(try String(contentsOf: fresh, encoding: .utf8), theirs, "\(log) is not what p0f writes")
            }
            let run = try runSynprint(["-r", capture, "--log-format", "p0f", "--classify"])
            XCTAssertEqual(run.status, 0, run.stderr)
            let ours = p0fLines(run.stdout)
            let expected = p0fLines(theirs)
            XCTAssertEqual(ours.count, expected.count, log)
            for (mine, p0fs) in zip(ours, expected) {
                XCTAssertEqual(mine.map(\.key), p0fs.map(\.key), "\(log): fields differ")
                for ((key, value), (_, expectedValue)) in zip(mine, p0fs) where !["os", "params", "link"].contains(key) {
                    XCTAssertEqual(value, expectedValue, "\(log): \(key)")
                }
            }
        }
    }

    /// The time and fields of p0f's SYN, SYN+ACK and MTU lines, in order.
    func p0fLines(_ text: String) -> [[(key: String, value: String)]] {
        text.split(separator: "\n").compactMap { line in
            guard let close = line.firstIndex(of: "]") else { return nil }
            let fields = line[line.index(close, offsetBy: 2)...].split(separator: "|").map { field in
                let parts = field.split(separator: "=", maxSplits: 1)
                return (key: String(parts[0]), value: parts.count > 1 ? String(parts[1]) : "")
            }
            guard let module = fields.first?.value, ["syn", "syn+ack", "mtu"].contains(module) else { return nil }
            return [(key: "time", value: String(line[...close]))] + fields
        }
    }

    // MARK: Configuration file

    /// Options from `--config` apply; the command line overrides them.
    func testConfigurationFileOptionsApplyAndTheCommandLineOverrides() throws {
        let folder = try temporaryFolder()
        let config = folder.appendingPathComponent("synprint.yaml")
        try """
        # a sensor's settings
        read: [\(sample("verdicts"))]
        json: true
        classify: true
        sensor-name: from-file
        filter: tcp port 8080
        """.write(to: config, atomically: true, encoding: .utf8)
        let run = try runSynprint(["--config", config.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let events = jsonLines(run.stdout)
        XCTAssertFalse(events.isEmpty)
        XCTAssertTrue(events.allSatisfy { $0["sensor"] as? String == "from-file" && $0["os"] is [String: Any] })
        XCTAssertTrue(events.allSatisfy { $0["dst_port"] as? Int == 8080 || $0["src_port"] as? Int == 8080 })
        // An option value on the command line is not a filter word: the file's filter stays.
        let named = try runSynprint(["--config", config.path, "--sensor-name", "renamed"])
        XCTAssertEqual(jsonLines(named.stdout).count, events.count, named.stderr)
        let overridden = try runSynprint(["--config", config.path, "--sensor-name", "from-command-line", "tcp"])
        XCTAssertEqual(overridden.status, 0, overridden.stderr)
        let all = jsonLines(overridden.stdout)
        XCTAssertGreaterThan(all.count, events.count)
        XCTAssertTrue(all.allSatisfy { $0["sensor"] as? String == "from-command-line" })
        try "json: [unclosed".write(to: config, atomically: true, encoding: .utf8)
        let broken = try runSynprint(["--config", config.path])
        XCTAssertNotEqual(broken.status, 0)
        XCTAssertTrue(broken.stderr.contains("synprint.yaml"), broken.stderr)
    }

    // MARK: Command line

    func testVersionAndHelpListTheOptions() throws {
        let version = try runSynprint(["--version"])
        XCTAssertEqual(version.status, 0)
        XCTAssertTrue(version.stdout.hasPrefix("1."), version.stdout)
        let help = try runSynprint(["--help"])
        for option in ["-r <file>", "--classify", "--metrics", "--event-schema", "--summary", "--config"] {
            XCTAssertTrue(help.stdout.contains(option), option)
        }
        XCTAssertTrue(help.stdout.split(separator: "\n").allSatisfy { $0.count <= 100 })
        let subcommandHelp = try runSynprint(["help", "db", "build"])
        XCTAssertEqual(subcommandHelp.status, 0, subcommandHelp.stderr)
        XCTAssertTrue(subcommandHelp.stdout.contains("USAGE: synprint db build"), subcommandHelp.stdout)
    }

    func sample(_ name: String) -> String { repositoryRoot.appendingPathComponent("tools/samples/\(name).pcap").path }

    /// Metric values by name, with their labels as `name{label=value,…}`.
    func metricValues(_ sensor: Sensor, _ log: EventLog, _ limiter: AlertLimiter) -> [String: Double] {
        sensorMetrics(sensor.monitor, log, limiter, []).reduce(into: [:]) { all, value in
            let labels = value.labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
            all[labels.isEmpty ? value.name : "\(value.name){\(labels)}"] = value.value
        }
    }

    /// Every packet of a capture through an unthreaded sensor, then its status published.
    func feed(_ capture: (link: LinkType, packets: [(seconds: Int, microseconds: Int, bytes: [UInt8])]), to sensor: Sensor, log: EventLog) {
        SynprintTests.feed(capture, to: sensor)
        sensor.finish()
        sensor.publishStatus()
        log.idle()
    }
}
