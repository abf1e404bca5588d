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

    /// The same kernel under the settings Android and older Linux kernels ship with
    /// (tools/netns-capture.py --stacks): each lands in the class whose settings it reproduces.
    /// Where another class's defaults send the very same SYN, the answer names one of the two
    /// and says so: both classes hold a real share and the confidence stays low.
    func testStackSettingsLandInTheClassTheyReproduce() throws {
        let labels = try jsonLines(of: fixture("stack-settings.labels.jsonl"))
        let capture = try packets(of: fixture("stack-settings.pcap"))
        let events = runSensor(capture.packets, link: capture.link, database: try shippedDatabase(), judging: false)
        XCTAssertEqual(events.syns.count, labels.count)
        let byPort = Dictionary(uniqueKeysWithValues: labels.map { ($0["client_port"] as! Int, $0) })
        var classes: [OSClass: Int] = [:], ambiguous = 0
        for syn in events.syns {
            let label = try XCTUnwrap(byPort[Int(syn.fingerprint.segment.sourcePort)])
            let name = label["case"] as! String
            let truth = try XCTUnwrap(OSClass(name: label["os_class"] as! String))
            let c = try XCTUnwrap(syn.classification)
            XCTAssertEqual(c.family, .linuxLike, name)
            XCTAssertGreaterThanOrEqual(c.familyConfidence, 0.9, name)
            classes[truth, default: 0] += 1
            guard let other = (label["same_as"] as? String).flatMap(OSClass.init(name:)) else {
                XCTAssertEqual(c.osClass, truth, "\(name): \(c.osClass.name) at \(c.confidence)")
                continue
            }
            ambiguous += 1
            XCTAssertTrue([truth, other].contains(c.osClass), "\(name): \(c.osClass.name)")
            XCTAssertLessThan(c.confidence, 0.7, name)
            XCTAssertGreaterThanOrEqual(c.classScores[truth.rawValue], 0.3, name)
            XCTAssertGreaterThanOrEqual(c.classScores[other.rawValue], 0.3, name)
            // The SYN really is the other class's: a case of that class sent the same fields on the same path.
            let observed = label["observed"] as! [String: Any]
            let twin = labels.first {
                $0["os_class"] as? String == other.name && $0["ip_version"] as? Int == label["ip_version"] as? Int
                    && $0["mtu"] as? Int == label["mtu"] as? Int
                    && ($0["observed"] as! [String: Any])["window"] as? Int == observed["window"] as? Int
                    && ($0["observed"] as! [String: Any])["window_scale"] as? Int == observed["window_scale"] as? Int
            }
            XCTAssertNotNil(twin, "\(name): no \(other.name) case sends its SYN")
        }
        XCTAssertGreaterThanOrEqual(classes[.linux] ?? 0, 15)
        XCTAssertGreaterThanOrEqual(classes[.android] ?? 0, 10)
        XCTAssertEqual(ambiguous, 6)
    }
}
