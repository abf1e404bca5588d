import XCTest
@testable import Capture
@testable import Decode
@testable import Features
@testable import Match

/// End to end on the labelled dev SYNs: capture → decode → features → match, shipped database.
final class AccuracyTests: XCTestCase {
    func testClassAndFamilyAccuracyFloorsAndCalibration() throws {
        let db = try Database.load(file: repositoryRoot.appendingPathComponent("database/synprint.db.jsonl").path)
        let matcher = Matcher(database: db)
        let source = try PacketSource.open(file: devData("dev_syns.pcap").path)
        var answers: [Classification] = []
        _ = source.run(shouldStop: { false }) { packet in
            if case .tcp(let s) = PacketDecoder.decode(packet.bytes, link: source.linkType) {
                answers.append(matcher.classify(Fingerprint(s, in: packet.bytes)))
            }
            return true
        }
        let text = try String(contentsOf: devData("dev_labels.jsonl"), encoding: .utf8)
        let truth = try text.split(separator: "\n").map {
            OSClass(name: (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["os_class"] as! String)!
        }
        XCTAssertEqual(answers.count, truth.count)
        let classRight = zip(answers, truth).filter { $0.osClass == $1 }.count
        let familyRight = zip(answers, truth).filter { $0.family == $1.family }.count
        let confident = zip(answers, truth).filter { $0.0.confidence >= 0.9 }
        let confidentRight = confident.filter { $0.osClass == $1 }.count
        let classAccuracy = Double(classRight) / Double(truth.count)
        let familyAccuracy = Double(familyRight) / Double(truth.count)
        XCTAssertGreaterThanOrEqual(classAccuracy, 0.90, "class accuracy \(classAccuracy)")
        XCTAssertGreaterThanOrEqual(familyAccuracy, 0.99, "family accuracy \(familyAccuracy)")
        XCTAssertGreaterThan(confident.count, 100)
        XCTAssertGreaterThanOrEqual(Double(confidentRight) / Double(confident.count), 0.9, "confidence ≥ 0.9 is right less than 90 %")
    }
}
