import Capture
import Connections
import Decode
import FlowStats
import Foundation
import Match
import Synchronization
import SynprintKit
import Verdict
import XCTest

/// Collects a sensor's events, for tests that drive the library directly with packets.
final class EventCollector: EventHandler {
    private let collected = Mutex<
        (
            syns: [SynObservation], requests: [JudgedRequest], connections: [FollowedConnection], flowWindows: [FlowWindow],
            hellos: [TLSObservation]
        )
    >(([], [], [], [], []))
    func handle(syn: SynObservation) { collected.withLock { $0.syns.append(syn) } }
    func handle(request: JudgedRequest) { collected.withLock { $0.requests.append(request) } }
    func handle(connection: FollowedConnection) { collected.withLock { $0.connections.append(connection) } }
    func handle(flowWindow: FlowWindow) { collected.withLock { $0.flowWindows.append(flowWindow) } }
    func handle(tls: TLSObservation) { collected.withLock { $0.hellos.append(tls) } }
    func idle() {}

    /// Client SYNs (SYN+ACKs left out).
    var syns: [SynObservation] { collected.withLock { $0.syns.filter { $0.fingerprint.direction == .syn } } }
    /// SYNs and SYN+ACKs, in order.
    var handshakes: [SynObservation] { collected.withLock { $0.syns } }
    var requests: [JudgedRequest] { collected.withLock { $0.requests } }
    var connections: [FollowedConnection] { collected.withLock { $0.connections } }
    var flowWindows: [FlowWindow] { collected.withLock { $0.flowWindows } }
    var hellos: [TLSObservation] { collected.withLock { $0.hellos } }
}

/// The shipped table of TLS stacks.
func shippedTLSStacks() throws -> TLSStacks {
    try TLSStacks.load(file: repositoryRoot.appendingPathComponent("database/tls.jsonl").path)
}

/// A web application's checks of the real TLS clients' connections (tls-clients.pcap): three
/// of the clients under their own names, and Firefox under one that names no library. Each
/// judged check goes to `record`; returns how many there were.
func checkRealTLSClients(_ hellos: [TLSObservation], judge: VerdictJudge, record: (JudgedRequest) -> Void) throws -> Int {
    let userAgents = [
        IPAddress("10.81.0.20"): "Go-http-client/1.1", IPAddress("10.81.0.17"): "python-requests/2.31.0",
        IPAddress("10.81.0.11"): "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
        IPAddress("10.81.0.12"): "an agent naming no library",
    ]
    var checks = 0
    for hello in hellos {
        let segment = hello.syn.fingerprint.segment
        guard let userAgent = userAgents[segment.ip.source] else { continue }
        var head = HTTPRequestHead(method: "GET")
        head.userAgent = userAgent
        guard let checked = judge.check(address: segment.ip.source, port: segment.sourcePort, request: head, at: hello.seconds) else {
            throw Failed(description: "no connection found for the check of \(segment.ip.source):\(segment.sourcePort)")
        }
        record(
            JudgedRequest(
                observation: HTTPObservation(seconds: hello.seconds, microseconds: 0, syn: checked.connection.syn, request: head),
                verdict: checked.verdict))
        checks += 1
    }
    return checks
}

/// The stacks `db build --tls` wrote from the checks of `checkRealTLSClients`: Go's, Python's
/// and Chromium's, each with the shipped stack's suites, extensions and groups.
func assertLearnedTheCheckedStacks(_ file: URL, file line: StaticString = #filePath, line number: UInt = #line) throws {
    let shipped = try shippedTLSStacks()
    let stacks = try TLSStacks.load(file: file.path).stacks
    XCTAssertEqual(Set(stacks.map(\.family)), [.go, .python, .chromium], file: line, line: number)
    for stack in stacks {
        let own = try XCTUnwrap(shipped.stacks.first { $0.family == stack.family })
        // The suites' order too: the library's preference, which the matcher weighs.
        XCTAssertEqual(
            [stack.ciphers, stack.preference, stack.extensions, stack.groups], [own.ciphers, own.preference, own.extensions, own.groups],
            stack.id, file: line, line: number)
    }
}

/// The shipped database.
func shippedDatabase() throws -> Database {
    try Database.load(file: repositoryRoot.appendingPathComponent("database/synprint.db.jsonl").path)
}

/// A fixture committed with the tests.
func fixture(_ name: String) -> URL {
    repositoryRoot.appendingPathComponent("Tests/SynprintTests/Fixtures").appendingPathComponent(name)
}

/// Every packet of a capture file, copied out of libpcap's buffer, with the file's link type.
func packets(of url: URL) throws -> (link: LinkType, packets: [(seconds: Int, microseconds: Int, bytes: [UInt8])]) {
    let source = try PacketSource.open(file: url.path)
    var result: [(Int, Int, [UInt8])] = []
    let end = source.run(shouldStop: { false }) { packet in
        result.append((packet.seconds, packet.microseconds, Array(packet.bytes)))
        return true
    }
    guard end == .finished else { throw NotDecoded(description: "\(url.lastPathComponent) did not read to its end: \(end)") }
    return (source.linkType, result)
}

/// Every packet of a capture into `sensor`, in order.
func feed(_ capture: (link: LinkType, packets: [(seconds: Int, microseconds: Int, bytes: [UInt8])]), to sensor: Sensor) {
    for packet in capture.packets {
        _ = packet.bytes.withUnsafeBytes {
            sensor.process(Packet(seconds: packet.seconds, microseconds: packet.microseconds, bytes: $0), link: capture.link)
        }
    }
}

/// Runs packets through a sensor, by default one that is not threaded: events are handled
/// before `process` returns. A threaded one has handled them all when this returns.
func runSensor(
    _ packets: [(seconds: Int, microseconds: Int, bytes: [UInt8])], link: LinkType, database: Database?,
    stacks: TLSStacks? = nil, judging: Bool, following: Bool = false, flowStatistics: Bool = false, settings: Settings = Settings(),
    threaded: Bool = false
) -> EventCollector {
    let collector = EventCollector()
    let sensor = Sensor(
        settings: settings, database: database, stacks: stacks, judging: judging, following: following,
        flowStatistics: flowStatistics, threaded: threaded, handler: collector)
    for packet in packets {
        _ = packet.bytes.withUnsafeBytes {
            sensor.process(Packet(seconds: packet.seconds, microseconds: packet.microseconds, bytes: $0), link: link)
        }
    }
    sensor.finish()
    return collector
}

/// The JSON lines of a fixture's labels file.
func jsonLines(of url: URL) throws -> [[String: Any]] {
    try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
        guard let object = try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] else {
            throw NotDecoded(description: "\(url.lastPathComponent): a line is not a JSON object")
        }
        return object
    }
}

/// Runs a command found on the PATH (or at an absolute path): its status, and its standard
/// output and error together.
func runCommand(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, printed)
}
