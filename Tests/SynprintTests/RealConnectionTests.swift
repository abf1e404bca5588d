import Foundation
import XCTest

@testable import Connections
@testable import Decode
@testable import SynprintKit

/// Connection records of real Linux connections made in network namespaces by
/// tools/netns-connections.py (normal fetches, unanswered SYNs, dropped handshakes, injected and
/// forged resets, SO_LINGER aborts, a ZMap-like SYN, TCP Fast Open, ECN negotiated, refused,
/// bleached and CE-marked), against the expectations the generator wrote from the wire.
final class RealConnectionTests: XCTestCase {
    func testRecordsOfRealConnectionsMatchTheWire() throws {
        let capture = try packets(of: fixture("connections.pcap"))
        let expected = try jsonLines(of: fixture("connections.expected.jsonl"))
        XCTAssertEqual(expected.count, 23)
        let collector = runSensor(capture.packets, link: capture.link, database: nil, judging: false, following: true)
        let byPort = Dictionary(collector.connections.map { ($0.key.clientPort, $0) }, uniquingKeysWith: { first, _ in first })
        for line in expected {
            let port = UInt16(line["client_port"] as! Int)
            let name = "\(line["case"]!) (port \(port))"
            guard let record = byPort[port] else {
                XCTFail("\(name): no record")
                continue
            }
            let stages = (line["stage"] as? [String]) ?? [line["stage"] as! String]
            XCTAssertTrue(stages.contains(record.stage.rawValue), "\(name): stage \(record.stage.rawValue)")
            XCTAssertTrue((line["ending"] as! [String]).contains(record.ending.rawValue), "\(name): ending \(record.ending.rawValue)")
            let tags = Set(ConnectionTags.named.filter { record.tags.contains($0.0) }.map(\.1))
            XCTAssertTrue(Set(line["tags_include"] as! [String]).isSubset(of: tags), "\(name): tags \(tags.sorted())")
            XCTAssertTrue(Set(line["tags_exclude"] as! [String]).isDisjoint(with: tags), "\(name): tags \(tags.sorted())")
            if let tfo = line["tfo"] as? String { XCTAssertEqual(record.fastOpen.rawValue, tfo, name) }
            if let ecn = line["ecn"] as? String { XCTAssertEqual(record.ecn.rawValue, ecn, name) }
            if let bleached = line["ecn_bleached"] as? Bool { XCTAssertEqual(record.ecnBleached, bleached, name) }
        }
    }
}
