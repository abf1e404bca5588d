import Foundation
import XCTest

@testable import API
@testable import Decode
@testable import Output
@testable import SynprintKit

/// The deployment kit in deploy/: the systemd unit, the default configuration and the Grafana
/// dashboard work with this build.
final class DeployTests: XCTestCase {
    let deploy = repositoryRoot.appendingPathComponent("deploy")

    /// `systemd-analyze verify` accepts the unit once it points at this build's binary.
    func testSystemdUnitVerifies() throws {
        let analyze = try XCTUnwrap(
            ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "systemd-analyze is missing (Debian: systemd)")
        let unit = try String(contentsOf: deploy.appendingPathComponent("synprint.service"), encoding: .utf8)
        for setting in [
            "User=synprint", "AmbientCapabilities=CAP_NET_RAW", "NoNewPrivileges=yes", "ProtectSystem=strict",
            "ReadWritePaths=/var/log/synprint /var/lib/synprint /run/synprint", "StateDirectory=synprint", "RuntimeDirectory=synprint",
            "ExecReload=/bin/kill -HUP $MAINPID",
        ] {
            XCTAssertTrue(unit.contains(setting + "\n"), setting)
        }
        let folder = try temporaryFolder()
        let copy = folder.appendingPathComponent("synprint.service")
        try unit.replacingOccurrences(of: "/usr/bin/synprint", with: synprintExecutable.path)
            .write(to: copy, atomically: true, encoding: .utf8)
        let (status, said) = try runCommand([analyze, "verify", "--man=no", copy.path])
        XCTAssertEqual(status, 0, said)
        XCTAssertFalse(said.contains("synprint.service:"), said)
    }

    /// The shipped configuration is valid: with a capture file instead of the interface and its
    /// log folder moved, synprint runs it and writes events and alerts where it says.
    func testShippedConfigurationRuns() throws {
        let folder = try temporaryFolder()
        let sample = repositoryRoot.appendingPathComponent("tools/samples/verdicts.pcap").path
        var text = try String(contentsOf: deploy.appendingPathComponent("synprint.yaml"), encoding: .utf8)
        XCTAssertTrue(text.contains("\ninterface: any\n"))
        text = text.replacingOccurrences(of: "\ninterface: any\n", with: "\nread: [\(sample)]\nallow-root: true\n")
            .replacingOccurrences(of: "/var/log/synprint/", with: folder.path + "/")
            .replacingOccurrences(of: "metrics: 127.0.0.1:9464", with: "metrics: 127.0.0.1:0")
            .replacingOccurrences(of: "\nfilter: tcp port 80 or tcp port 443\n", with: "\nfilter: tcp\n")
        let config = folder.appendingPathComponent("synprint.yaml")
        try text.write(to: config, atomically: true, encoding: .utf8)
        let run = try runSynprint(["--config", config.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let events = jsonLines(try String(contentsOf: folder.appendingPathComponent("events.jsonl"), encoding: .utf8))
        XCTAssertEqual(events.filter { $0["type"] as? String == "http" }.count, 6)
        XCTAssertTrue(events.allSatisfy { $0["os"] != nil || $0["type"] as? String == "stats" })
        XCTAssertEqual(jsonLines(try String(contentsOf: folder.appendingPathComponent("alerts.jsonl"), encoding: .utf8)).count, 2)
    }

    /// Each panel of the Grafana dashboard has what Grafana needs, and every metric its queries
    /// name is one synprint exports.
    func testGrafanaDashboardQueriesExportedMetrics() throws {
        let data = try Data(contentsOf: deploy.appendingPathComponent("grafana-dashboard.json"))
        let dashboard = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertNotNil(dashboard["title"] as? String)
        XCTAssertNotNil(dashboard["uid"] as? String)
        XCTAssertNotNil(dashboard["schemaVersion"] as? Int)
        let panels = try XCTUnwrap(dashboard["panels"] as? [[String: Any]])
        XCTAssertGreaterThan(panels.count, 8)
        var expressions: [String] = []
        for panel in panels {
            XCTAssertNotNil(panel["id"] as? Int)
            XCTAssertNotNil(panel["type"] as? String)
            let position = try XCTUnwrap(panel["gridPos"] as? [String: Int])
            XCTAssertEqual(Set(position.keys), ["x", "y", "w", "h"])
            let targets = try XCTUnwrap(panel["targets"] as? [[String: Any]])
            XCTAssertFalse(targets.isEmpty)
            expressions += targets.compactMap { $0["expr"] as? String }
        }
        let exported = try exportedMetricNames()
        let named = try NSRegularExpression(pattern: "\\b(synprint_[a-z_]+|hb_[a-z_]+|http_server_[a-z_]+)")
        for expression in expressions {
            for match in named.matches(in: expression, range: NSRange(expression.startIndex..., in: expression)) {
                let name = String(expression[Range(match.range, in: expression)!])
                let base = ["_bucket", "_sum", "_count"].reduce(name) { $0.hasSuffix($1) ? String($0.dropLast($1.count)) : $0 }
                XCTAssertTrue(exported.contains(base), "\(name) in \(expression) is not exported")
            }
        }
    }

    /// The metric names in the API server's /metrics after a capture and one lookup.
    func exportedMetricNames() throws -> Set<String> {
        let capture = try packets(of: repositoryRoot.appendingPathComponent("tools/samples/verdicts.pcap"))
        let database = try shippedDatabase()
        let output = try OutputFile(path: "/dev/null", mode: .append)
        let log = EventLog(
            format: .json, database: database, labels: EventLabels(sensor: "test"), sink: EventSink(file: output), alerts: nil,
            observations: nil)
        let sensor = Sensor(settings: Settings(), database: database, judging: true, threaded: false, handler: log)
        feed(capture, to: sensor)
        sensor.finish()
        sensor.publishStatus(libpcap: (1, 0, 0))
        log.idle()
        let limiter = AlertLimiter(perHost: 10, window: 60, perSecond: 100)
        let exporter = MetricsExporter { [monitor = sensor.monitor] in sensorMetrics(monitor, log, limiter, [output]) }
        let server = APIServer(
            settings: .init(host: "127.0.0.1", port: 0, key: nil), judge: try XCTUnwrap(sensor.judge), database: database,
            labels: EventLabels(sensor: "test"), metrics: exporter, onAlert: { _, _ in })
        let port = try server.start()
        defer { server.stop() }
        _ = try? String(contentsOf: URL(string: "http://127.0.0.1:\(port)/v1/lookup?ip=10.0.0.1")!, encoding: .utf8)
        _ = try? String(contentsOf: URL(string: "http://127.0.0.1:\(port)/v1/health")!, encoding: .utf8)
        let text = try String(contentsOf: URL(string: "http://127.0.0.1:\(port)/metrics")!, encoding: .utf8)
        return Set(
            text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) })
    }
}

/// The API and metrics listeners under clients that hold connections: a body sent a byte at a
/// time is cut at the request deadline, and the metrics listener closes connections past its
/// limit as the API does.
final class ListenerTests: XCTestCase {
    /// Whether the server closed `socket` within `seconds`, sending a byte every 200 ms meanwhile.
    func closedByServer(_ socket: Int32, within seconds: Double, trickling: Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            var waiting = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            if poll(&waiting, 1, 200) > 0 {
                var byte: UInt8 = 0
                if recv(socket, &byte, 1, 0) <= 0 { return true }
            } else if trickling {
                var byte = UInt8(ascii: " ")
                if send(socket, &byte, 1, Int32(MSG_NOSIGNAL)) < 0 { return true }
            }
        }
        return false
    }

    func testSlowBodiesAndIdleCrowdsDoNotHoldTheListeners() throws {
        let database = try shippedDatabase()
        let sensor = Sensor(settings: Settings(), database: database, judging: true, threaded: false, handler: EventCollector())
        var settings = APIServer.Settings(host: "127.0.0.1", port: 0, key: nil)
        settings.requestTimeout = 1
        settings.maxConnections = 4
        let server = APIServer(
            settings: settings, judge: try XCTUnwrap(sensor.judge), database: database, labels: EventLabels(sensor: "test"),
            onAlert: { _, _ in }
        )
        let port = try server.start()
        defer { server.stop() }
        let slow = try connected(port)
        defer { close(slow) }
        let head = Array("POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n{".utf8)
        XCTAssertEqual(send(slow, head, head.count, Int32(MSG_NOSIGNAL)), head.count)
        let started = Date()
        XCTAssertTrue(closedByServer(slow, within: 8, trickling: true), "a trickling body held its connection")
        XCTAssertLessThan(Date().timeIntervalSince(started), 4)

        let metrics = MetricsServer(exporter: MetricsExporter { [] }, address: settings)
        let metricsPort = try metrics.start()
        defer { metrics.stop() }
        let idle = try (0..<4).map { _ in try connected(metricsPort) }
        defer { idle.forEach { close($0) } }
        Thread.sleep(forTimeInterval: 0.3)
        let extra = try connected(metricsPort)
        defer { close(extra) }
        XCTAssertTrue(closedByServer(extra, within: 3, trickling: false), "a connection past the limit was kept")
    }
}
