import XCTest

@testable import Decode
@testable import Match
@testable import SynprintKit

/// The shipped database on the labelled dev SYNs, through the sensor as the command line runs it.
/// The floors are the product's targets (README, Accuracy); tools/accuracy.py prints the tables.
final class AccuracyTests: XCTestCase {
    func testDevSynsMeetTheAccuracyTargets() throws {
        let capture = try packets(of: devDataOrSkip("dev_syns.pcap"))
        let labels = try devLabels().map { OSClass(name: $0["os_class"] as! String)! }
        let answers = runSensor(capture.packets, link: capture.link, database: try shippedDatabase(), judging: false)
            .syns.map { $0.classification! }
        XCTAssertEqual(answers.count, labels.count)
        let pairs = zip(answers, labels)
        func share(_ right: (Classification, OSClass) -> Bool, of subset: ((Classification, OSClass)) -> Bool = { _ in true }) -> Double {
            let chosen = pairs.filter(subset)
            return Double(chosen.filter(right).count) / Double(max(chosen.count, 1))
        }
        let merged: (OSClass) -> OSClass = { $0 == .iOS ? .macOS : $0 }
        let classAccuracy = share { $0.osClass == $1 }
        let familyAccuracy = share { $0.family == $1.family }
        let appleMerged = share({ merged($0.osClass) == merged($1) }, of: { $0.1.family == .apple })
        let macOSRecall = share({ $0.osClass == $1 }, of: { $0.1 == .macOS })
        let iOSRecall = share({ $0.osClass == $1 }, of: { $0.1 == .iOS })
        XCTAssertGreaterThanOrEqual(familyAccuracy, 0.99, "family")
        XCTAssertGreaterThanOrEqual(classAccuracy, 0.92, "class")
        // The two classes one option writer serves, each told from the other.
        XCTAssertGreaterThanOrEqual(share({ $0.osClass == $1 }, of: { $0.1 == .android }), 0.95, "Android recall")
        XCTAssertGreaterThanOrEqual(share({ $0.osClass == $1 }, of: { $0.1 == .linux }), 0.95, "Linux recall")
        XCTAssertGreaterThanOrEqual(appleMerged, 0.95, "Apple SYNs with macOS and iOS merged")
        XCTAssertGreaterThanOrEqual(macOSRecall, 0.5, "macOS recall")
        XCTAssertGreaterThanOrEqual(iOSRecall, 0.5, "iOS recall")
        // Calibration: what the sensor is sure of is right.
        let confident = pairs.filter { $0.0.confidence >= 0.9 }
        XCTAssertGreaterThan(confident.count, 150)
        XCTAssertGreaterThanOrEqual(Double(confident.filter { $0.osClass == $1 }.count) / Double(confident.count), 0.97)
    }
}
