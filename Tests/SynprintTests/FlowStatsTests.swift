import Foundation
import XCTest

@testable import Decode
@testable import Features
@testable import FlowStats
@testable import Match
@testable import SynprintKit
@testable import Verdict

/// Flow statistics on hand-built bytes and conversations: entropy, first-payload kinds, TLS
/// names, windows, the tunnel rules and the verdict they feed.
final class FlowStatsTests: XCTestCase {
    func entropy(_ bytes: [UInt8]) -> Float { bytes.withUnsafeBytes { ByteEntropy.of($0).bits } }
    func kind(_ bytes: [UInt8]) -> PayloadKind { bytes.withUnsafeBytes { PayloadKind.classify($0, length: bytes.count) } }

    func testEntropyBounds() {
        XCTAssertEqual(entropy([UInt8](repeating: 7, count: 200)), 0, accuracy: 1e-5)
        XCTAssertEqual(entropy((0..<256).map { UInt8($0) }), 8, accuracy: 1e-4)
        XCTAssertEqual(entropy([0, 1, 0, 1]), 1, accuracy: 1e-5)
        // Only the first 256 bytes count.
        XCTAssertEqual([UInt8](repeating: 1, count: 1000).withUnsafeBytes { ByteEntropy.of($0).bytes }, 256)
    }

    /// A ClientHello with a server name and ALPN, built field by field.
    static func clientHello(name: String = "example.test", alpn: String = "h2") -> [UInt8] {
        let host = Array(name.utf8)
        let sni: [UInt8] = be16(0) + be16(UInt16(host.count + 5)) + be16(UInt16(host.count + 3)) + [0] + be16(UInt16(host.count)) + host
        let protocolName = Array(alpn.utf8)
        let alpnBody: [UInt8] = be16(UInt16(protocolName.count + 1)) + [UInt8(protocolName.count)] + protocolName
        let alpnExtension: [UInt8] = be16(16) + be16(UInt16(alpnBody.count)) + alpnBody
        let extensions = sni + alpnExtension
        var hello: [UInt8] = [3, 3] + [UInt8](repeating: 0xAB, count: 32) + [0] + be16(2) + [0x13, 0x01] + [1, 0]
        hello += be16(UInt16(extensions.count)) + extensions
        let handshake: [UInt8] = [1, 0] + be16(UInt16(hello.count)) + hello
        return [22, 3, 1] + be16(UInt16(handshake.count)) + handshake
    }

    func testFirstPayloadKinds() {
        XCTAssertEqual(kind(FlowStatsTests.clientHello()), .tls)
        XCTAssertEqual(kind(Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)), .http)
        XCTAssertEqual(kind(Array("SSH-2.0-OpenSSH_9.2p1\r\n".utf8)), .ssh)
        // OpenVPN over TCP: length 14, opcode 7 (hard reset client v2), key id 0.
        XCTAssertEqual(kind(be16(14) + [7 << 3] + [UInt8](repeating: 0x55, count: 13)), .openVPN)
        var rng = SplitMix64(seed: 42)
        XCTAssertEqual(kind((0..<200).map { _ in UInt8.random(in: 0...255, using: &rng) }), .opaque)
        XCTAssertEqual(kind(Array(String(repeating: "plain words here ", count: 10).utf8)), .other)
        XCTAssertEqual(kind([1, 2]), .other)
    }

    func testClientHelloNames() {
        let names = FlowStatsTests.clientHello().withUnsafeBytes { ClientHelloNames($0) }
        XCTAssertEqual(names.serverName, "example.test")
        XCTAssertEqual(names.alpn, "h2")
        // Cut by a snaplen inside the extensions: what is there is read, nothing past the end.
        let cut = Array(FlowStatsTests.clientHello().prefix(70))
        XCTAssertNil(cut.withUnsafeBytes { ClientHelloNames($0) }.alpn)
    }

    // MARK: Windows and rules

    /// A client 10.0.0.3 talking to 10.0.0.1:443: `exchanges` rounds of an upstream payload and
    /// a downstream answer, 50 ms apart, on one connection.
    func conversation(firstPayload: [UInt8], exchanges: Int, up: Int, down: Int, seconds: Double) -> ConnectionTests.Conversation {
        var c = ConnectionTests.Conversation()
        c.handshake()
        var p = PacketBuilder()
        p.flags = 0x18
        p.options = []
        p.sequence = c.clientISN + 1
        p.acknowledgment = c.serverISN + 1
        p.payload = firstPayload
        c.clientSent += UInt32(firstPayload.count)
        c.add(p.ipv4(), after: 1000)
        let step = Int(seconds * 1e6) / max(exchanges, 1)
        for _ in 0..<exchanges {
            c.client(flags: 0x18, payload: up, after: step / 2)
            c.server(payload: down)
        }
        return c
    }

    func windows(
        _ conversations: [ConnectionTests.Conversation], judging: Bool = false, windowPackets: Int = 10_000
    ) throws -> (
        windows: [FlowWindow], sensor: Sensor
    ) {
        final class Collector: EventHandler, @unchecked Sendable {
            var windows: [FlowWindow] = []
            func handle(syn: SynObservation) {}
            func handle(request: JudgedRequest) {}
            func idle() {}
            func handle(flowWindow: FlowWindow) { windows.append(flowWindow) }
        }
        var settings = Settings()
        settings.flowWindowPackets = windowPackets
        settings.flowWindowSeconds = 600
        let collector = Collector()
        let sensor = Sensor(
            settings: settings, database: try shippedDatabase(), judging: judging, flowStatistics: true, threaded: false,
            handler: collector)
        for frame in conversations.flatMap(\.frames).sorted(by: { $0.time < $1.time }) {
            _ = frame.bytes.withUnsafeBytes {
                sensor.process(
                    Packet(seconds: 1_700_000_000 + frame.time / 1_000_000, microseconds: frame.time % 1_000_000, bytes: $0),
                    link: .ethernet)
            }
        }
        sensor.finish()
        return (collector.windows, sensor)
    }

    func testAnOpaqueLongConnectionMeetsTheOpaqueRule() throws {
        var rng = SplitMix64(seed: 7)
        let random = (0..<300).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let (all, _) = try windows([conversation(firstPayload: random, exchanges: 50, up: 300, down: 1400, seconds: 20)])
        let w = try XCTUnwrap(all.first)
        XCTAssertEqual(all.count, 1)
        XCTAssertEqual(w.firstPayloads[PayloadKind.opaque.rawValue], 1)
        XCTAssertTrue(w.rules.contains(.opaque))
        XCTAssertTrue(w.rules.contains(.singleFlow))
        XCTAssertEqual(w.up.dataPackets, 51)
        XCTAssertEqual(w.down.dataPackets, 50)
        XCTAssertEqual(w.down.bytes, 70_000)
        XCTAssertEqual(w.largestConnectionShare, 1, accuracy: 1e-9)
        XCTAssertEqual(w.down.mostFrequent.first?.length, 1400)
        XCTAssertEqual(w.down.lengthBins[13], 50)
    }

    func testBrowsingAndTypingMeetNoRule() throws {
        // An HTTP fetch: one request, one large answer.
        let (fetch, _) = try windows([
            conversation(firstPayload: Array("GET / HTTP/1.1\r\n\r\n".utf8), exchanges: 0, up: 0, down: 0, seconds: 1)
        ])
        XCTAssertEqual(fetch.first?.rules, [])
        // An interactive SSH session: many small payloads both ways on one long connection.
        let (typing, _) = try windows([
            conversation(firstPayload: Array("SSH-2.0-OpenSSH_9.2\r\n".utf8), exchanges: 60, up: 36, down: 60, seconds: 30)
        ])
        XCTAssertEqual(typing.first?.rules, [])
        XCTAssertEqual(typing.first?.firstPayloads[PayloadKind.ssh.rawValue], 1)
    }

    func testWindowsCloseAfterTheirPacketCount() throws {
        let (all, _) = try windows(
            [conversation(firstPayload: Array("GET / HTTP/1.1\r\n\r\n".utf8), exchanges: 50, up: 100, down: 100, seconds: 5)],
            windowPackets: 20)
        XCTAssertEqual(all.count, 6)  // 104 packets: five full windows and the rest at the end
        XCTAssertTrue(all.dropLast().allSatisfy { $0.packets == 20 })
    }

    /// A window that meets a rule marks the client, and its next request gets `tunnel_flow`.
    func testTunnelRulesReachTheVerdicts() throws {
        var rng = SplitMix64(seed: 9)
        let random = (0..<300).map { _ in UInt8.random(in: 0...255, using: &rng) }
        var tunnel = conversation(firstPayload: random, exchanges: 40, up: 300, down: 1200, seconds: 20)
        // Later, a plain HTTP request from the same client on a new connection.
        var request = ConnectionTests.Conversation()
        request.clientPort = 50100
        request.time = tunnel.time + 1_000_000
        request.handshake()
        var p = PacketBuilder()
        p.sourcePort = 50100
        p.flags = 0x18
        p.options = []
        p.sequence = request.clientISN + 1
        p.acknowledgment = request.serverISN + 1
        p.payload = Array("GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n\r\n".utf8)
        request.add(p.ipv4(), after: 1000)
        tunnel.frames += request.frames
        // Windows of 100 packets: the tunnel's first closes before the request is judged.
        let (all, sensor) = try windows([tunnel], judging: true, windowPackets: 100)
        XCTAssertTrue(all.first?.rules.contains(.opaque) == true)
        let judge = try XCTUnwrap(sensor.judge)
        let host = try XCTUnwrap(judge.hosts.host(IPAddress(v4: 0x0A00_0003)))
        XCTAssertEqual(host.tunnelFlow?.rules.contains(.opaque), true)
        let verdict = judge.rules.verdict(
            claimed: nil, classification: nil, path: nil, proxyHeaders: false, ipSharing: false,
            tunnelRules: judge.hosts.tunnelRules(IPAddress(v4: 0x0A00_0003), at: 1_700_000_100))
        XCTAssertEqual(verdict.reasons, [.tunnelFlow])
        XCTAssertTrue(verdict.reasonNames.contains("tunnel_flow:opaque"))
        XCTAssertTrue(verdict.flagged)
    }

    /// Spoofed SYNs from many addresses fill the client table, which stays within its capacity
    /// and counts what it pushed out.
    func testTheClientTableStaysBounded() {
        let stats = FlowStatistics(clientCapacity: 100, connectionCapacity: 200, windowPackets: 500, windowSeconds: 30)
        var p = PacketBuilder()
        for i in 0..<5000 {
            let source: [UInt8] = [198, 18, UInt8(i >> 8), UInt8(i & 0xFF)]
            let bytes = PacketBuilder.ethernet(p.ipv4(source: source))
            p.sourcePort = UInt16(1024 + i)
            bytes.withUnsafeBytes { raw in
                guard case .tcp(let segment) = PacketDecoder.decode(raw, link: .ethernet) else { return XCTFail("not TCP") }
                let syn = SynObservation(seconds: 1_700_000_000, microseconds: i, fingerprint: Fingerprint(segment, in: raw))
                stats.opened(syn) { _ in }
            }
        }
        XCTAssertEqual(stats.counters.clientsEvicted, 4900)
        XCTAssertEqual(stats.counters.connectionsEvicted, 4800)
    }
}
