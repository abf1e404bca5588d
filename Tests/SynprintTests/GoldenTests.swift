import XCTest

@testable import Decode
@testable import Match
@testable import Output
@testable import SynprintKit

/// Every output format on the shipped samples, compared byte for byte with the outputs kept in
/// Tests/SynprintTests/Golden. A change of format or of an answer shows up here as a diff to
/// review; `SYNPRINT_UPDATE_GOLDEN=1 swift test --filter GoldenTests` writes the new outputs.
final class GoldenTests: XCTestCase {
    static let samples = ["mixed-os", "verdicts"]

    func testEveryFormatOnTheShippedSamplesMatchesItsGoldenOutput() throws {
        let update = ProcessInfo.processInfo.environment["SYNPRINT_UPDATE_GOLDEN"] == "1"
        let folder = try temporaryFolder()
        for sample in GoldenTests.samples {
            let capture = try packets(of: repositoryRoot.appendingPathComponent("tools/samples/\(sample).pcap"))
            let variants =
                EventFormat.allCases.map { (format: $0, schema: EventSchema.native, name: $0.rawValue) }
                + [EventSchema.ecs, .eve].map { (format: EventFormat.json, schema: $0, name: "\($0.rawValue).json") }
            for (format, schema, name) in variants {
                let output = folder.appendingPathComponent("\(sample).\(name)")
                let sink = EventSink(file: try OutputFile(path: output.path, mode: .truncate))
                let labels = EventLabels(sensor: "golden", schema: schema)
                let log = EventLog(
                    format: format, database: try shippedDatabase(), labels: labels, sink: sink, alerts: nil, observations: nil)
                let sensor = Sensor(settings: Settings(), database: try shippedDatabase(), judging: true, threaded: false, handler: log)
                for packet in capture.packets {
                    _ = packet.bytes.withUnsafeBytes {
                        sensor.process(Packet(seconds: packet.seconds, microseconds: packet.microseconds, bytes: $0), link: capture.link)
                    }
                }
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
}
