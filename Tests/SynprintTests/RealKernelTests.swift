import XCTest

@testable import Decode
@testable import Match
@testable import SynprintKit
@testable import Verdict

/// Real SYNs of a Linux kernel (tools/netns-capture.py): client links of MTU 1280-1500, routers
/// clamping the MSS, window scales 7-13, timestamps/SACK/scaling/ECN switched off and on, IPv4
/// and IPv6, each connection carrying a User-Agent of some OS. The stack is always Linux.
final class RealKernelTests: XCTestCase {
    func testLinuxThroughTunnelsClampsAndSysctlsIsLinuxAndFlaggedExactlyWhenTheUserAgentLies() throws {
        let labels = try jsonLines(of: fixture("linux-paths.labels.jsonl"))
        let capture = try packets(of: fixture("linux-paths.pcap"))
        let events = runSensor(capture.packets, link: capture.link, database: try shippedDatabase(), judging: true)
        XCTAssertEqual(events.syns.count, labels.count)
        XCTAssertEqual(events.requests.count, labels.count)
        let byPort = Dictionary(uniqueKeysWithValues: labels.map { ($0["client_port"] as! Int, $0) })
        for syn in events.syns {
            let label = try XCTUnwrap(byPort[Int(syn.fingerprint.segment.sourcePort)])
            let c = try XCTUnwrap(syn.classification)
            XCTAssertTrue([.linux, .chromeOS].contains(c.osClass), "\(label["case"]!): \(c.osClass.name)")
            XCTAssertEqual(c.family, .linuxLike, "\(label["case"]!)")
        }
        var mismatches = 0, tunnels = 0
        for request in events.requests {
            let label = try XCTUnwrap(byPort[Int(request.observation.syn.fingerprint.segment.sourcePort)])
            let name = label["case"] as! String
            let expect = label["expect"] as! [String: Bool]
            let reasons = Set(request.verdict.reasons)
            XCTAssertEqual(reasons.contains(.osMismatch), expect["os_mismatch"], "\(name) \(label["ua_family"]!): \(reasons)")
            XCTAssertEqual(reasons.contains(.tunnelMTU) || reasons.contains(.mssClamped), expect["tunnel"], "\(name): \(reasons)")
            XCTAssertEqual(reasons.contains(.mssClamped), expect["clamped"], "\(name): \(reasons)")
            XCTAssertEqual(request.verdict.flagged, expect["os_mismatch"], "\(name): flagged at \(request.verdict.score)")
            if reasons.contains(.osMismatch) { mismatches += 1 }
            if expect["tunnel"] == true { tunnels += 1 }
        }
        XCTAssertGreaterThan(mismatches, 30)  // the fixture holds every case often enough to mean something
        XCTAssertGreaterThan(tunnels, 30)
    }

    /// The path object says what the kernel's own MSS was behind a clamping router.
    func testClampedPathsGiveTheOriginalMSS() throws {
        let labels = try jsonLines(of: fixture("linux-paths.labels.jsonl"))
        let capture = try packets(of: fixture("linux-paths.pcap"))
        let events = runSensor(capture.packets, link: capture.link, database: try shippedDatabase(), judging: false)
        let byPort = Dictionary(uniqueKeysWithValues: labels.map { ($0["client_port"] as! Int, $0) })
        var clamped = 0
        for syn in events.syns {
            let label = try XCTUnwrap(byPort[Int(syn.fingerprint.segment.sourcePort)])
            let path = try XCTUnwrap(syn.path)
            XCTAssertEqual(path.hops, 1, "one router")
            guard label["clamp_mss"] is Int else { continue }
            clamped += 1
            XCTAssertEqual(path.originalMSS, syn.fingerprint.ip.version == 4 ? 1460 : 1440, "\(label["case"]!)")
        }
        XCTAssertGreaterThan(clamped, 10)
    }
}
