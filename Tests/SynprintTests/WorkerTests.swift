import Decode
import FlowStats
import Foundation
import Output
import XCTest

@testable import SynprintKit

/// Several workers (`--workers`) give the events one pipeline gives: the same multiset of
/// lines in every analysis, the same summary and counts.
final class WorkerTests: XCTestCase {
    static let captures = [
        "tools/samples/mixed-os.pcap", "tools/samples/verdicts.pcap", "Tests/SynprintTests/Fixtures/connections.pcap",
        "Tests/SynprintTests/Fixtures/tunnels.pcap", "Tests/SynprintTests/Fixtures/linux-paths.pcap",
        "Tests/SynprintTests/Fixtures/p0f-windows.pcap", "Tests/SynprintTests/Fixtures/robustness/captures/linktype-14.pcap",
        "Tests/SynprintTests/Fixtures/robustness/captures/terminal-injection.pcap", "Tests/SynprintTests/Fixtures/tls-clients.pcap",
    ]

    /// Every analysis on, the events written as JSON lines and, by a second handler, as p0f log
    /// lines; both sets of lines, the summary and the counts. With several workers the workers
    /// write the first handler's text (`EventRenderer`) and the second writes its own.
    func run(
        _ packets: [(seconds: Int, microseconds: Int, bytes: [UInt8])], link: LinkType, workers: Int
    ) throws -> (lines: [String], p0f: [String], summary: String, status: Sensor.CaptureStatus) {
        let folder = try temporaryFolder()
        let output = folder.appendingPathComponent("events.jsonl"), p0fOutput = folder.appendingPathComponent("events.log")
        let database = try shippedDatabase()
        let sink = EventSink(file: try OutputFile(path: output.path, mode: .truncate))
        let p0fSink = EventSink(file: try OutputFile(path: p0fOutput.path, mode: .truncate))
        let log = EventLog(
            format: .json, database: database, labels: EventLabels(sensor: "workers"), sink: sink, alerts: nil, observations: nil)
        let p0fLog = EventLog(
            format: .p0f, database: database, labels: EventLabels(sensor: "workers"), sink: p0fSink, alerts: nil, observations: nil)
        let sensor = Sensor(
            settings: Settings(), database: database, stacks: try shippedTLSStacks(), judging: true, following: true, flowStatistics: true,
            workers: workers, handler: EventFanOut([log, p0fLog], alerts: nil))
        for packet in packets {
            _ = packet.bytes.withUnsafeBytes {
                sensor.process(Packet(seconds: packet.seconds, microseconds: packet.microseconds, bytes: $0), link: link)
            }
        }
        sensor.finish()
        sensor.publishStatus()
        sink.flush()
        p0fSink.flush()
        let lines = try String(contentsOf: output, encoding: .utf8).split(separator: "\n").map(String.init)
        let p0f = try String(contentsOf: p0fOutput, encoding: .utf8).split(separator: "\n").map(String.init)
        return (lines, p0f, log.summary.json(), sensor.captureStatus)
    }

    func testFourWorkersGiveOneWorkersEventsOnEveryCaptureAndFixture() throws {
        for path in WorkerTests.captures {
            let capture = try packets(of: repositoryRoot.appendingPathComponent(path))
            let one = try run(capture.packets, link: capture.link, workers: 1)
            let four = try run(capture.packets, link: capture.link, workers: 4)
            XCTAssertFalse(one.lines.isEmpty, path)
            XCTAssertFalse(one.p0f.isEmpty, path)
            for (a, b) in [(one.lines, four.lines), (one.p0f, four.p0f)] {
                let difference = a.sorted().difference(from: b.sorted())
                XCTAssertTrue(
                    difference.isEmpty,
                    "\(path): \(difference.count) lines differ, e.g. \(difference.first.map { "\($0)".prefix(400) } ?? "")")
            }
            XCTAssertEqual(one.summary, four.summary, path)
            XCTAssertEqual(one.status.counters.packets, capture.packets.count, path)
            XCTAssertEqual(four.status.counters.packets, capture.packets.count, path)
            XCTAssertEqual(one.status.counters.syn, four.status.counters.syn, path)
            XCTAssertEqual(one.status.counters.skipped, four.status.counters.skipped, path)
            XCTAssertEqual(one.status.counters.malformed, four.status.counters.malformed, path)
            XCTAssertEqual(one.status.connections?.closed, four.status.connections?.closed, path)
            XCTAssertEqual(one.status.flowStats?.windows, four.status.flowStats?.windows, path)
            XCTAssertEqual(one.status.tracker?.requests, four.status.tracker?.requests, path)
            XCTAssertEqual(one.status.tracker?.hellos, four.status.tracker?.hellos, path)
        }
    }

    /// Interleaved IPv4 clients (some behind one or two VLAN tags) and IPv6 clients, each with
    /// connections to two servers, packets both ways: each client's packets reach one worker,
    /// so each client has one flow window holding all of them, and the records match one
    /// pipeline's.
    func testEveryPacketOfAClientReachesOneWorker() throws {
        let clients = 12
        let (frames, expectedPackets) = clientTraffic(clients: clients)
        let one = runSensor(frames, link: .ethernet, database: nil, judging: false, following: true, flowStatistics: true)
        let four = try fourWorkers(frames)
        let windows = Dictionary(grouping: four.flowWindows, by: \.client)
        XCTAssertEqual(windows.count, clients)
        for (client, packets) in expectedPackets {
            let kept = try XCTUnwrap(windows[try XCTUnwrap(IPAddress(client))], client)
            XCTAssertEqual(kept.count, 1, "\(client)'s packets went to more than one worker")
            XCTAssertEqual(kept.map { Int($0.up.packets + $0.down.packets) }.reduce(0, +), packets, client)
            XCTAssertGreaterThan(kept[0].down.packets, 0, client)
        }
        XCTAssertEqual(four.connections.count, 2 * clients)
        XCTAssertEqual(
            Set(four.connections.map { "\($0.key) \($0.ending) \($0.stage)" }),
            Set(one.connections.map { "\($0.key) \($0.ending) \($0.stage)" }))
        XCTAssertEqual(four.flowWindows.count, one.flowWindows.count)
    }

    /// The client of a segment is found the same way in both directions, for IPv4 and IPv6, and
    /// a connection whose SYN came from the lower port stays with its client.
    func testBothDirectionsOfAConnectionGoToOneWorker() throws {
        var random = SplitMix64(seed: 7)
        var seen = Set<Int>()
        let pool = try makeWorkers(8)
        for i in 0..<2000 {
            var packet = PacketBuilder()
            packet.flags = 0x10
            packet.sourcePort = UInt16(truncatingIfNeeded: random.next())
            packet.destinationPort = i % 5 == 0 ? packet.sourcePort : UInt16(truncatingIfNeeded: random.next())
            let a = (0..<4).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let b = (0..<4).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let v6 = i % 2 == 1
            var forward = v6 ? packet.ipv6() : packet.ipv4(source: a, destination: b)
            var syn = packet
            syn.flags = 0x02
            var opening = v6 ? syn.ipv6() : syn.ipv4(source: a, destination: b)
            swap(&packet.sourcePort, &packet.destinationPort)
            var backward = v6 ? packet.ipv6() : packet.ipv4(source: b, destination: a)
            if v6 {
                for k in 8..<40 { forward[k] = UInt8(truncatingIfNeeded: random.next()) }
                opening.replaceSubrange(8..<40, with: forward[8..<40])
                backward.replaceSubrange(8..<24, with: forward[24..<40])
                backward.replaceSubrange(24..<40, with: forward[8..<24])
            }
            func worker(_ frame: [UInt8]) throws -> Int { try frame.withUnsafeBytes { pool.worker(of: try decodedSegment($0)) } }
            // Half the connections open with a SYN from the first endpoint, whatever its port.
            let client = i % 4 < 2 ? try worker(opening) : nil
            let there = try worker(forward)
            XCTAssertEqual(there, try worker(backward), "packet \(i)")
            if let client { XCTAssertEqual(there, client, "packet \(i) left its client's worker") }
            seen.insert(there)
        }
        XCTAssertEqual(seen.count, 8, "clients spread over every worker")
        pool.finish()
    }

    /// A host that is a client of one connection and the server of another keeps only its own
    /// connection in its flow window, and a client that opened its connection from the lower
    /// port keeps its: in one pipeline and with four workers alike.
    func testAClientThatAlsoServesKeepsItsOwnConnections() throws {
        var frames: [(seconds: Int, microseconds: Int, bytes: [UInt8])] = []
        /// SYN, SYN+ACK, ACK, data up, data down.
        func connection(client: [UInt8], clientPort: UInt16, server: [UInt8], serverPort: UInt16) {
            for (step, flags) in [0x02, 0x12, 0x10, 0x18, 0x18].enumerated() {
                var p = PacketBuilder()
                p.flags = UInt8(flags)
                p.options = step < 2 ? PacketBuilder.linuxOptions : []
                p.payload = step >= 3 ? Array("data \(step)".utf8) : []
                let up = step != 1 && step != 4
                (p.sourcePort, p.destinationPort) = up ? (clientPort, serverPort) : (serverPort, clientPort)
                let ip = up ? p.ipv4(source: client, destination: server) : p.ipv4(source: server, destination: client)
                frames.append((1_700_000_000, frames.count * 1000, PacketBuilder.ethernet(ip)))
            }
        }
        let host: [UInt8] = [10, 0, 0, 3], visitor: [UInt8] = [10, 0, 0, 7], lowPort: [UInt8] = [10, 0, 0, 9]
        connection(client: host, clientPort: 50000, server: [10, 0, 0, 1], serverPort: 443)
        connection(client: visitor, clientPort: 40000, server: host, serverPort: 23)  // the host serves
        connection(client: lowPort, clientPort: 1000, server: [10, 0, 0, 1], serverPort: 5000)
        let one = runSensor(frames, link: .ethernet, database: nil, judging: false, flowStatistics: true)
        let four = try fourWorkers(frames)
        for collector in [one, four] {
            let windows = Dictionary(uniqueKeysWithValues: collector.flowWindows.map { ($0.client, $0) })
            for client in [host, visitor, lowPort] {
                let address = IPAddress(v4: client.reduce(0) { $0 << 8 | UInt32($1) })
                let window = try XCTUnwrap(windows[address], "\(client)")
                XCTAssertEqual([window.up.packets, window.down.packets, UInt32(window.connectionsOpened)], [3, 2, 1], "\(client)")
            }
        }
    }

    /// SYNs within a connection: the server sends a plain SYN, or SYN with RST, after the client
    /// opened it. One pipeline takes them as segments of the client's connection; so do the
    /// workers, whatever worker each address hashes to.
    func testSYNsWithinAConnectionStayWithItsClient() throws {
        var frames: [(seconds: Int, microseconds: Int, bytes: [UInt8])] = []
        for n in 0..<60 {
            let client: [UInt8] = [10, 3, 0, UInt8(n + 1)], server: [UInt8] = [192, 0, 2, UInt8(n + 1)]
            let steps: [(flags: UInt8, up: Bool, payload: String)] = [
                (0x02, true, ""), (0x12, false, ""), (0x10, true, ""), (n % 2 == 0 ? 0x02 : 0x06, false, ""),
                (0x18, true, "GET / HTTP/1.1\r\nHost: a.test\r\nUser-Agent: curl/8.0\r\n\r\n"), (0x18, false, "HTTP/1.1 200 OK\r\n\r\n"),
                (0x11, true, ""), (0x11, false, ""),
            ]
            var sent: UInt32 = 0  // the client's payload bytes so far
            for step in steps {
                var p = PacketBuilder()
                p.flags = step.flags
                p.sequence = step.up ? (step.flags == 0x02 ? 1000 : 1001 + sent) : 5000
                p.options = step.flags & 0x02 != 0 ? PacketBuilder.linuxOptions : []
                p.payload = Array(step.payload.utf8)
                if step.up { sent += UInt32(p.payload.count) }
                (p.sourcePort, p.destinationPort) = step.up ? (40000, 8080) : (8080, 40000)
                let ip = step.up ? p.ipv4(source: client, destination: server) : p.ipv4(source: server, destination: client)
                frames.append((1_700_000_000, frames.count * 100, PacketBuilder.ethernet(ip)))
            }
        }
        let one = try run(frames, link: .ethernet, workers: 1)
        XCTAssertEqual(one.lines.filter { $0.hasPrefix("{\"type\":\"http\"") }.count, 60)
        for _ in 0..<3 {
            let four = try run(frames, link: .ethernet, workers: 4)
            let difference = one.lines.sorted().difference(from: four.lines.sorted())
            XCTAssertTrue(difference.isEmpty, "\(difference.count) lines differ, such as \(difference.first.map { "\($0)" } ?? "")")
        }
    }

    /// More connections opened from the lower port than the default budget's routes, open at
    /// once: with a --memcap that holds them, the workers remember every one's worker, and each
    /// ends as in one pipeline.
    func testRoutesFollowTheMemcap() throws {
        var settings = Settings()
        settings.memcap = 512 << 20
        let count = 20_000
        XCTAssertLessThan(Settings().routeCapacity, count)
        XCTAssertGreaterThanOrEqual(settings.routeCapacity, count)
        var frames: [(seconds: Int, microseconds: Int, bytes: [UInt8])] = []
        /// A packet of connection `n`, whose client (10.2.x.y) opens it from port 1000 to 5000.
        func add(_ n: Int, flags: UInt8, up: Bool, sequence: UInt32, acknowledgment: UInt32) {
            var p = PacketBuilder()
            p.flags = flags
            p.options = flags & 0x02 != 0 ? PacketBuilder.linuxOptions : []
            (p.sourcePort, p.destinationPort) = up ? (1000, 5000) : (5000, 1000)
            (p.sequence, p.acknowledgment) = (sequence, acknowledgment)
            let client: [UInt8] = [10, 2, UInt8(n >> 8), UInt8(n & 0xFF)], server: [UInt8] = [192, 0, 2, 1]
            let ip = up ? p.ipv4(source: client, destination: server) : p.ipv4(source: server, destination: client)
            frames.append((1_700_000_000 + frames.count / 10_000, frames.count % 10_000 * 100, PacketBuilder.ethernet(ip)))
        }
        for n in 0..<count {
            add(n, flags: 0x02, up: true, sequence: 100, acknowledgment: 0)
            add(n, flags: 0x12, up: false, sequence: 500, acknowledgment: 101)
            add(n, flags: 0x10, up: true, sequence: 101, acknowledgment: 501)
        }
        for n in 0..<count {
            add(n, flags: 0x11, up: true, sequence: 101, acknowledgment: 501)
            add(n, flags: 0x11, up: false, sequence: 501, acknowledgment: 102)
            add(n, flags: 0x10, up: true, sequence: 102, acknowledgment: 502)
        }
        func ends(_ collector: EventCollector) -> [String] {
            collector.connections.map { "\($0.key) \($0.ending) \($0.stage) \($0.client.packets) \($0.server.packets)" }.sorted()
        }
        let one = ends(runSensor(frames, link: .ethernet, database: nil, judging: false, following: true, settings: settings))
        XCTAssertEqual(one.count, count)
        XCTAssertTrue(one.allSatisfy { $0.hasSuffix("fin normal 4 2") }, one.first { !$0.hasSuffix("fin normal 4 2") } ?? "")
        let four = ends(try fourWorkers(frames, settings: settings))
        XCTAssertEqual(four.count, count)
        let differing = zip(one, four).filter { $0 != $1 }
        XCTAssertTrue(differing.isEmpty, "\(differing.count) connections differ, such as \(differing.first.map { "\($0)" } ?? "")")
    }

    func fourWorkers(
        _ frames: [(seconds: Int, microseconds: Int, bytes: [UInt8])], settings: Settings = Settings()
    ) throws
        -> EventCollector
    {
        let collector = EventCollector()
        let sensor = Sensor(
            settings: settings, database: nil, judging: false, following: true, flowStatistics: true, workers: 4, handler: collector)
        for frame in frames {
            _ = frame.bytes.withUnsafeBytes {
                sensor.process(Packet(seconds: frame.seconds, microseconds: frame.microseconds, bytes: $0), link: .ethernet)
            }
        }
        sensor.finish()
        return collector
    }

    func makeWorkers(_ count: Int) throws -> Workers {
        let condition = NSCondition()
        let pipelines = (0..<count).map { _ in PacketPipeline(matcher: nil, tracker: nil) }
        let queues = (0..<count).map { _ in EventQueue(batchSize: 16, maxBatches: 2, condition: condition) }
        return Workers(pipelines: pipelines, queues: queues, sweeps: false, roundPackets: 16, roundsWaiting: 2, routes: 64)
    }
}

/// Interleaved traffic of `clients` clients: IPv4 ones (a third behind one VLAN tag, a third
/// behind two) and IPv6 ones, each with a connection to each of two servers: SYN, SYN+ACK,
/// ACK, data both ways, FIN. Returns the frames and each client's packet count.
func clientTraffic(clients: Int) -> (frames: [(seconds: Int, microseconds: Int, bytes: [UInt8])], packets: [String: Int]) {
    var frames: [(seconds: Int, microseconds: Int, bytes: [UInt8])] = []
    var packets: [String: Int] = [:]
    var time = 0
    for step in 0..<6 {
        for c in 0..<clients {
            for server in 0..<2 {
                var packet = PacketBuilder()
                packet.sourcePort = UInt16(40000 + c * 10 + server)
                packet.destinationPort = server == 0 ? 443 : 80
                packet.options = step == 0 ? PacketBuilder.linuxOptions : []
                packet.flags = [0x02, 0x12, 0x10, 0x18, 0x18, 0x11][step]
                packet.payload = step >= 3 && step <= 4 ? Array("data \(c) \(server) \(step)".utf8) : []
                let fromServer = step == 1 || step == 4
                if fromServer { swap(&packet.sourcePort, &packet.destinationPort) }
                let v6 = c % 3 == 0
                let client = v6 ? "2001:db8::\(String(c + 16, radix: 16))" : "10.1.\(c).7"
                let serverAddress: [UInt8] = [192, 0, 2, UInt8(10 + server)]
                let frame: [UInt8]
                if v6 {
                    var ip = packet.ipv6()
                    ip[23] = fromServer ? UInt8(1 + server) : UInt8(c + 16)  // source
                    ip[39] = fromServer ? UInt8(c + 16) : UInt8(1 + server)  // destination
                    frame = PacketBuilder.ethernet(ip, etherType: 0x86DD)
                } else {
                    let address: [UInt8] = [10, 1, UInt8(c), 7]
                    let ip = packet.ipv4(source: fromServer ? serverAddress : address, destination: fromServer ? address : serverAddress)
                    frame = PacketBuilder.ethernet(ip, vlanTags: c % 3 == 1 ? [100] : c % 3 == 2 ? [200, 30] : [])
                }
                time += 1000
                frames.append((1_700_000_000 + time / 1_000_000, time % 1_000_000, frame))
                packets[client, default: 0] += 1
            }
        }
    }
    return (frames, packets)
}
