import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `--workers` on a live interface: a fanout group of captures on one end of a veth pair
/// between two network namespaces the test makes, fed by tcpreplay from the other end.
final class LiveWorkerTests: XCTestCase {
    /// IPv4 clients (some behind VLAN tags) and IPv6 clients, captured with one worker and with
    /// three: the same events but for their times, nothing dropped, every worker busy.
    func testAFanoutGroupGivesOneWorkersEvents() throws {
        guard geteuid() == 0 else { throw XCTSkip("network namespaces need the tests to run as root") }
        let folder = try temporaryFolder()
        let capture = folder.appendingPathComponent("clients.pcap")
        try writePcap(clientTraffic(clients: 30).frames.map(\.bytes), to: capture)
        let link = try VethLink()
        defer { link.remove() }
        let one = try link.capture(capture, workers: 1, in: folder)
        let three = try link.capture(capture, workers: 3, in: folder)
        XCTAssertEqual(one.events.count, 30 * 2 * 3 + 30, "a SYN, a SYN+ACK and a record per connection, a window per client")
        XCTAssertEqual(one.events.sorted(), three.events.sorted())
        // The interfaces' own neighbour discovery may add a few packets.
        func number(_ pattern: String, in text: String) throws -> Int {
            let match = try XCTUnwrap(text.range(of: pattern, options: .regularExpression), "\(pattern) in \(text)")
            return try XCTUnwrap(Int(text[match].filter(\.isNumber)))
        }
        for run in [one, three] {
            XCTAssertTrue(run.stderr.contains("dropped 0, interface dropped 0"), run.stderr)
            XCTAssertGreaterThanOrEqual(try number("[0-9]+ packets read", in: run.stderr), 360)
        }
        let workers = try XCTUnwrap(three.stderr.split(separator: "\n").first { $0.contains("workers: packets") }, three.stderr)
        let parts = workers.split(separator: ";")
        let counts = parts[0].split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .punctuationCharacters)) }
        XCTAssertEqual(parts.dropFirst().first?.trimmingCharacters(in: .whitespaces), "libpcap dropped 0, 0, 0", String(workers))
        XCTAssertEqual(counts.count, 3, String(workers))
        XCTAssertEqual(counts.reduce(0, +), try number("[0-9]+ packets read", in: three.stderr))
        XCTAssertTrue(counts.allSatisfy { $0 > 0 }, "a worker took no packet: \(workers)")
    }
}

/// Two network namespaces joined by a veth pair, removed by `remove`.
struct VethLink {
    let sender: String
    let receiver: String

    init() throws {
        let tag = "sp\(getpid() % 100_000)"
        sender = "\(tag)s"
        receiver = "\(tag)r"
        for name in [sender, receiver] { _ = try? command("ip", "netns", "del", name) }
        try command("ip", "netns", "add", sender)
        try command("ip", "netns", "add", receiver)
        try command("ip", "link", "add", "\(tag)a", "netns", sender, "type", "veth", "peer", "name", "\(tag)b", "netns", receiver)
        try command("ip", "-n", sender, "link", "set", "\(tag)a", "up")
        try command("ip", "-n", receiver, "link", "set", "\(tag)b", "up")
    }

    func remove() {
        for name in [sender, receiver] { _ = try? command("ip", "netns", "del", name) }
    }

    /// synprint on the receiving end while tcpreplay sends `capture`: the events, each reduced
    /// to what does not depend on when it was replayed, and the run's standard error.
    func capture(_ capture: URL, workers: Int, in folder: URL) throws -> (events: [String], stderr: String) {
        let output = folder.appendingPathComponent("live-\(workers).jsonl")
        let errors = folder.appendingPathComponent("live-\(workers).err")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        let sensor = Process()
        sensor.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        sensor.arguments = [
            "ip", "netns", "exec", receiver, synprintExecutable.path, "-i", "\(receiver.dropLast())b", "--json", "--http",
            "--connections", "--flow-stats", "--workers", "\(workers)", "--stats-interval", "0", "-o", output.path,
        ]
        sensor.standardError = try FileHandle(forWritingTo: errors)
        try sensor.run()
        Thread.sleep(forTimeInterval: 1.5)  // the captures are open
        try command("ip", "netns", "exec", sender, "tcpreplay", "-q", "-i", "\(sender.dropLast())a", "--pps", "2000", capture.path)
        Thread.sleep(forTimeInterval: 1)
        sensor.terminate()
        sensor.waitUntilExit()
        let stderr = try String(contentsOf: errors, encoding: .utf8)
        XCTAssertEqual(sensor.terminationStatus, 0, stderr)
        let events = try String(contentsOf: output, encoding: .utf8).split(separator: "\n").map { line -> String in
            let event = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let type = event["type"] as? String ?? "?"
            let endpoints = ["src_ip", "src_port", "dst_ip", "dst_port"].map { "\(event[$0] ?? "")" }.joined(separator: " ")
            func side(_ name: String) -> String {
                let values = event[name] as? [String: Any] ?? [:]
                return "\(values["packets"] ?? "") \(values["bytes"] ?? "")"
            }
            switch type {
            case "conn": return "\(type) \(endpoints) \(event["stage"] ?? "") \(event["ending"] ?? "") \(side("client")) \(side("server"))"
            case "flowstats": return "\(type) \(endpoints) \(event["connections"] ?? "") \(side("up")) \(side("down"))"
            case "http": return "\(type) \(endpoints) \(event["user_agent"] ?? "")"
            default: return "\(type) \(endpoints) \(event["raw_sig"] ?? "")"
            }
        }
        return (events, stderr)
    }
}

/// Runs a command; a failure throws with what it printed.
func command(_ arguments: String...) throws {
    let run = try runCommand(arguments)
    guard run.status == 0 else {
        throw NotDecoded(description: "\(arguments.joined(separator: " ")) failed (\(run.status)): \(run.output)")
    }
}
