import Foundation
import XCTest

@testable import Connections
@testable import Decode
@testable import Match
@testable import Output
@testable import SynprintKit

/// Connection records from hand-built conversations: every stage, ending and tag, Fast Open and
/// ECN states, and the table's bounds under a spoofed SYN flood.
final class ConnectionTests: XCTestCase {
    /// One TCP conversation between 10.0.0.3 (client) and 10.0.0.1:443, packet by packet.
    struct Conversation {
        var clientPort: UInt16 = 50000
        var clientISN: UInt32 = 1000
        var serverISN: UInt32 = 900_000
        var clientSent: UInt32 = 0  // payload bytes after the SYN
        var serverSent: UInt32 = 0
        var time = 0  // microseconds
        var frames: [(time: Int, bytes: [UInt8])] = []

        mutating func add(_ bytes: [UInt8], after microseconds: Int) {
            time += microseconds
            frames.append((time, PacketBuilder.ethernet(bytes)))
        }

        mutating func syn(
            flags: UInt8 = 0x02, options: [UInt8] = PacketBuilder.linuxOptions, payload: [UInt8] = [], ipID: UInt16 = 0x1234,
            window: UInt16 = 64240
        ) {
            var p = PacketBuilder()
            p.sourcePort = clientPort
            p.flags = flags
            p.sequence = clientISN
            p.options = options
            p.payload = payload
            p.ipID = ipID
            p.window = window
            add(p.ipv4(), after: 0)
        }

        mutating func synAck(flags: UInt8 = 0x12, options: [UInt8] = PacketBuilder.linuxOptions, acknowledging: UInt32? = nil) {
            var p = PacketBuilder()
            p.sourcePort = 443
            p.destinationPort = clientPort
            p.flags = flags
            p.sequence = serverISN
            p.acknowledgment = acknowledging ?? clientISN &+ 1
            p.options = options
            p.ttl = 64
            add(p.ipv4(source: [10, 0, 0, 1], destination: [10, 0, 0, 3]), after: 20_000)
        }

        mutating func client(flags: UInt8 = 0x10, payload: Int = 0, ack: UInt32? = nil, ttl: UInt8 = 57, tos: UInt8 = 0, after: Int = 1000)
        {
            var p = PacketBuilder()
            p.sourcePort = clientPort
            p.flags = flags
            p.sequence = clientISN &+ 1 &+ clientSent
            p.acknowledgment = ack ?? serverISN &+ 1 &+ serverSent
            p.options = []
            p.payload = [UInt8](repeating: 0x41, count: payload)
            p.ttl = ttl
            p.tos = tos
            clientSent &+= UInt32(payload)
            add(p.ipv4(), after: after)
        }

        mutating func server(flags: UInt8 = 0x18, payload: Int = 0, tos: UInt8 = 0) {
            var p = PacketBuilder()
            p.sourcePort = 443
            p.destinationPort = clientPort
            p.flags = flags
            p.sequence = serverISN &+ 1 &+ serverSent
            p.acknowledgment = clientISN &+ 1 &+ clientSent
            p.options = []
            p.payload = [UInt8](repeating: 0x42, count: payload)
            p.ttl = 64
            p.tos = tos
            serverSent &+= UInt32(payload)
            add(p.ipv4(source: [10, 0, 0, 1], destination: [10, 0, 0, 3]), after: 1000)
        }

        mutating func handshake() {
            syn()
            synAck()
            client()
        }
    }

    func records(_ conversations: [Conversation], settings: Settings = Settings(), classify: Bool = false) throws -> [FollowedConnection] {
        let collector = EventCollector()
        let sensor = Sensor(
            settings: settings, database: classify ? try shippedDatabase() : nil, judging: false, following: true, threaded: false,
            handler: collector)
        ConnectionTests.replay(conversations, into: sensor)
        return collector.connections
    }

    /// The conversations' frames in time order through a sensor, then the sensor finished.
    static func replay(_ conversations: [Conversation], into sensor: Sensor) {
        for frame in conversations.flatMap(\.frames).sorted(by: { $0.time < $1.time }) {
            _ = frame.bytes.withUnsafeBytes {
                sensor.process(
                    Packet(seconds: 1_700_000_000 + frame.time / 1_000_000, microseconds: frame.time % 1_000_000, bytes: $0),
                    link: .ethernet)
            }
        }
        sensor.finish()
    }

    func record(_ build: (inout Conversation) -> Void) throws -> FollowedConnection {
        var conversation = Conversation()
        build(&conversation)
        let all = try records([conversation])
        XCTAssertEqual(all.count, 1)
        return try XCTUnwrap(all.first)
    }

    func names(_ tags: ConnectionTags) -> [String] { ConnectionTags.named.filter { tags.contains($0.0) }.map(\.1) }

    // MARK: Stages and endings

    func testCleanCloseIsNormalWithHandshakeFacts() throws {
        let c = try record {
            $0.handshake()
            $0.client(flags: 0x18, payload: 300)
            $0.server(payload: 1400)
            $0.server(flags: 0x11)
            $0.client(flags: 0x11)
            $0.server(flags: 0x10)
        }
        XCTAssertEqual(c.ending, .fin)
        XCTAssertEqual(c.stage, .normal)
        XCTAssertTrue(c.connected)
        XCTAssertEqual(c.handshakeRTT, 1000)
        XCTAssertEqual(c.client.payloadBytes, 300)
        XCTAssertEqual(c.server.payloadBytes, 1400)
        XCTAssertEqual(c.client.packets, 4)
        XCTAssertEqual(c.server.packets, 4)
        XCTAssertTrue(c.client.fin && c.server.fin)
        XCTAssertEqual(names(c.tags), [])
    }

    func testUnansweredAndUnacknowledgedSYNsArePostSYN() throws {
        var unanswered = Conversation()
        unanswered.syn()
        var unacknowledged = Conversation()
        unacknowledged.clientPort = 50001
        unacknowledged.syn()
        unacknowledged.synAck()
        // A later connection moves the clock past the idle timeout.
        var later = Conversation()
        later.clientPort = 50002
        later.time = 200_000_000
        later.syn()
        let all = try records([unanswered, unacknowledged, later])
        let byPort = Dictionary(uniqueKeysWithValues: all.map { ($0.key.clientPort, $0) })
        for port: UInt16 in [50000, 50001] {
            let c = try XCTUnwrap(byPort[port])
            XCTAssertEqual(c.stage, .postSYN)
            XCTAssertEqual(c.ending, .timeout)
            XCTAssertEqual(names(c.tags), ["timeout"])
        }
        XCTAssertEqual(byPort[50001]?.synAckFlags, [.syn, .ack])
        XCTAssertEqual(byPort[50002]?.ending, .captureEnd)
    }

    func testResetsBeforeAndAfterData() throws {
        let postACK = try record {
            $0.handshake()
            $0.client(flags: 0x04, ack: 0)
        }
        XCTAssertEqual(postACK.stage, .postACK)
        XCTAssertEqual(postACK.ending, .reset)
        XCTAssertEqual(names(postACK.tags), ["single_rst"])

        let injected = try record {
            $0.handshake()
            $0.client(flags: 0x18, payload: 200)
            $0.client(flags: 0x04, ttl: 40, after: 30_000)
        }
        XCTAssertEqual(injected.stage, .postPSH)
        XCTAssertEqual(names(injected.tags), ["single_rst", "rst_ttl_mismatch"])
        XCTAssertEqual(injected.resetGap, 30_000)
        XCTAssertEqual(injected.resetTTL, 40)

        let later = try record {
            $0.handshake()
            for _ in 0..<3 { $0.client(flags: 0x18, payload: 100) }
            $0.client(flags: 0x04)
        }
        XCTAssertEqual(later.stage, .later)

        let longLived = try record {
            $0.handshake()
            for _ in 0..<12 { $0.client(flags: 0x18, payload: 100) }
            $0.client(flags: 0x04)
        }
        XCTAssertEqual(longLived.stage, .normal)
        XCTAssertEqual(longLived.ending, .reset)
    }

    func testResetTagsFollowTheirAcknowledgmentNumbers() throws {
        func resets(_ kinds: [(flags: UInt8, ack: UInt32)]) throws -> [String] {
            try names(
                record {
                    $0.handshake()
                    for kind in kinds { $0.client(flags: kind.flags, ack: kind.ack) }
                }.tags)
        }
        XCTAssertEqual(try resets([(0x04, 7), (0x04, 7)]), ["multiple_rsts", "acknumsame"])
        XCTAssertEqual(try resets([(0x04, 0), (0x04, 0), (0x04, 0)]), ["multiple_rsts", "acknumsame0"])
        XCTAssertEqual(try resets([(0x04, 7), (0x04, 9)]), ["multiple_rsts", "acknumdiff"])
        XCTAssertEqual(try resets([(0x04, 7), (0x04, 0)]), ["multiple_rsts", "acknumdiff0"])
        XCTAssertEqual(try resets([(0x14, 7)]), ["single_rstack"])
        XCTAssertEqual(try resets([(0x14, 7), (0x14, 7)]), ["multiple_rstacks"])
        XCTAssertEqual(try resets([(0x04, 7), (0x14, 7)]), ["rst_and_rstacks"])
        XCTAssertEqual(
            try names(
                record {
                    $0.handshake()
                    $0.client(flags: 0x11)
                    $0.client(flags: 0x04)
                }.tags), ["fin", "single_rst"])
    }

    func testZMapSYN() throws {
        let c = try record { $0.syn(options: [2, 4, 0x05, 0xB4], ipID: 54321, window: 65535) }
        XCTAssertEqual(names(c.tags), ["zmap"])
        XCTAssertEqual(c.stage, .postSYN)
    }

    // MARK: Fast Open and ECN

    func testFastOpenStates() throws {
        let request: [UInt8] = PacketBuilder.linuxOptions + [34, 2, 1, 1]
        let cookie: [UInt8] = PacketBuilder.linuxOptions + [34, 10, 1, 2, 3, 4, 5, 6, 7, 8]
        XCTAssertEqual(try record { $0.syn(options: request) }.fastOpen, .cookieRequested)
        XCTAssertEqual(
            try record {
                $0.syn(options: request)
                $0.synAck(options: cookie)
            }.fastOpen, .cookieGranted)
        XCTAssertEqual(try record { $0.syn(options: cookie, payload: [UInt8](repeating: 1, count: 100)) }.fastOpen, .dataSent)
        let accepted = try record {
            $0.syn(options: cookie, payload: [UInt8](repeating: 1, count: 100))
            $0.synAck(acknowledging: $0.clientISN + 101)
        }
        XCTAssertEqual(accepted.fastOpen, .dataAccepted)
        let refused = try record {
            $0.syn(options: cookie, payload: [UInt8](repeating: 1, count: 100))
            $0.synAck()
        }
        XCTAssertEqual(refused.fastOpen, .dataRefused)
        XCTAssertEqual(try record { $0.handshake() }.fastOpen, .none)
    }

    func testECNStates() throws {
        func ecn(synAck: UInt8, clientTOS: UInt8, serverTOS: UInt8 = 0, syn: UInt8 = 0xC2) throws -> FollowedConnection {
            try record {
                $0.syn(flags: syn)
                $0.synAck(flags: synAck)
                $0.client()
                $0.client(flags: 0x18, payload: 100, tos: clientTOS)
                $0.server(payload: 100, tos: serverTOS)
            }
        }
        XCTAssertEqual(try ecn(synAck: 0x12, clientTOS: 0, syn: 0x02).ecn, .notRequested)
        XCTAssertEqual(try ecn(synAck: 0x12, clientTOS: 0).ecn, .refused)
        XCTAssertEqual(try ecn(synAck: 0x52, clientTOS: 2).ecn, .negotiatedAndUsed)
        XCTAssertEqual(try ecn(synAck: 0x52, clientTOS: 3).ecn, .ceSeen)
        let bleached = try ecn(synAck: 0x52, clientTOS: 0)
        XCTAssertEqual(bleached.ecn, .negotiated)
        XCTAssertTrue(bleached.ecnBleached)
        XCTAssertFalse(try ecn(synAck: 0x52, clientTOS: 2).ecnBleached)
        XCTAssertFalse(bleached.accurateECN)
        XCTAssertEqual(try ecn(synAck: 0x12, clientTOS: 0, syn: 0xC2).ecn, .refused)
    }

    // MARK: Aggregates

    /// The summary, the API's recent aggregates and the per-network shares count what the
    /// records say: here 12 connections from one /24, 4 of them reset after the handshake.
    func testAggregatesCountTheRecords() throws {
        var conversations: [Conversation] = []
        for port in 0..<12 {
            var c = Conversation()
            c.clientPort = UInt16(30000 + port)
            c.time = port * 1000
            c.handshake()
            if port < 4 {
                c.client(flags: 0x04)
            } else {
                c.client(flags: 0x18, payload: 10)
                c.client(flags: 0x11)
                c.server(flags: 0x11)
            }
            conversations.append(c)
        }
        let sink = EventSink(file: try OutputFile(path: "/dev/null", mode: .append))
        let log = EventLog(format: .json, database: nil, labels: EventLabels(sensor: "test"), sink: sink, alerts: nil, observations: nil)
        let sensor = Sensor(settings: Settings(), database: nil, judging: false, following: true, threaded: false, handler: log)
        ConnectionTests.replay(conversations, into: sensor)
        log.idle()
        let counts = log.summary.snapshot
        XCTAssertEqual(counts.connections, 12)
        XCTAssertEqual(counts.stages[ConnectionStage.allCases.firstIndex(of: .postACK)!], 4)
        XCTAssertEqual(counts.stages[ConnectionStage.allCases.firstIndex(of: .normal)!], 8)
        let top = log.summary.topNetworks(counts, by: .postACK)
        XCTAssertEqual(top.count, 1)
        XCTAssertEqual(top.first?.0, "10.0.0.0/24")
        XCTAssertEqual(top.first?.1, 12)
        XCTAssertEqual(try XCTUnwrap(top.first?.2), 4.0 / 12.0, accuracy: 1e-9)
        let recent = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(log.summary.recentConnectionsJSON(minutes: 10).utf8)) as? [String: Any])
        XCTAssertEqual(recent["connections"] as? Int, 12)
        XCTAssertEqual(recent["stages"] as? [String: Int], ["post_ack": 4, "normal": 8])
        XCTAssertEqual(recent["tags"] as? [String: Int], ["single_rst": 4])
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(log.summary.json().utf8)) as? [String: Any])
        let connections = try XCTUnwrap(summary["connections"] as? [String: Any])
        XCTAssertEqual(connections["ended"] as? Int, 12)
        XCTAssertEqual((connections["top_post_ack_networks"] as? [[String: Any]])?.first?["network"] as? String, "10.0.0.0/24")
    }

    // MARK: Bounds

    /// Real clients complete their handshakes; then 50 times the table's size in spoofed SYNs
    /// arrives. Every real connection is still followed to its clean close; the spoofed ones
    /// are pushed out and counted.
    func testASpoofedSynFloodDoesNotPushOutConnectedClients() throws {
        var settings = Settings()
        settings.maxConnections = 64
        var conversations: [Conversation] = []
        for port in 0..<20 {
            var c = Conversation()
            c.clientPort = UInt16(40000 + port)
            c.handshake()
            conversations.append(c)
        }
        var flood = Conversation()
        flood.time = 100_000
        for n in 0..<3200 {
            flood.clientPort = UInt16(1024 + n)
            flood.syn()
        }
        conversations.append(flood)
        for port in 0..<20 {
            var close = Conversation()
            close.clientPort = UInt16(40000 + port)
            close.time = 200_000
            close.serverSent = 0
            close.client(flags: 0x11)
            close.server(flags: 0x11)
            conversations.append(close)
        }
        let all = try records(conversations, settings: settings)
        let real = all.filter { $0.key.clientPort >= 40000 }
        XCTAssertEqual(real.count, 20)
        XCTAssertTrue(real.allSatisfy { $0.ending == .fin && $0.connected }, "\(real.map(\.ending))")
        let evicted = all.filter { $0.ending == .evicted }
        XCTAssertEqual(evicted.count, 3200 - 32)
        XCTAssertTrue(evicted.allSatisfy { $0.stage == .postSYN && $0.key.clientPort < 40000 })
    }

    /// A long connection stays followed to its real end while many more than the table holds
    /// come and go beside it (a table that reused slots in turn pushed it out as `post_ack`).
    func testALongConnectionOutlivesManyShortOnes() throws {
        var settings = Settings()
        settings.maxConnections = 64
        var long = Conversation()
        long.clientPort = 30000
        long.handshake()
        var conversations = [long]
        for n in 0..<300 {
            var short = Conversation()
            short.clientPort = UInt16(40000 + n)
            short.time = 1_000_000 + n * 300_000
            short.handshake()
            short.client(flags: 0x11)
            short.server(flags: 0x11)
            conversations.append(short)
        }
        var end = long
        end.frames = []
        end.time = 100_000_000
        end.client(flags: 0x11)
        end.server(flags: 0x11)
        conversations.append(end)
        let all = try records(conversations, settings: settings)
        XCTAssertEqual(all.count, 301)
        XCTAssertTrue(all.allSatisfy { $0.ending == .fin && $0.stage == .normal }, "\(Set(all.map(\.ending)))")
        let kept = try XCTUnwrap(all.first { $0.key.clientPort == 30000 })
        XCTAssertEqual(kept.client.packets, 3)
    }

    /// The timeline keeps its bucket count by doubling the width; no connection is lost.
    func testStageTimelineStaysBoundedAndKeepsEveryConnection() {
        var timeline = StageTimeline()
        for second in 0..<1000 { timeline.add(stage: second % 5, at: 1_700_000_000 + Int64(second)) }
        XCTAssertLessThanOrEqual(timeline.bucketCount, StageTimeline.maxBuckets)
        XCTAssertEqual(timeline.width, 8)
        XCTAssertEqual(timeline.counts.reduce(0, +), 1000)
        XCTAssertEqual(timeline.start, 1_700_000_000)
        // The first bucket covers seconds 0-7: stages 0,1,2,3,4,0,1,2.
        XCTAssertEqual(Array(timeline.bucket(0)), [2, 2, 2, 1, 1])
        // A record that ended before the first bucket counts in it.
        timeline.add(stage: 4, at: 1_699_999_990)
        XCTAssertEqual(Array(timeline.bucket(0)), [2, 2, 2, 1, 2])
    }
}
