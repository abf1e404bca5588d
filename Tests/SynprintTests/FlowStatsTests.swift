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
    /// The inline arrays kept per first-payload kind have one slot per kind.
    func testPerPayloadKindArraysHaveOneSlotPerKind() {
        XCTAssertEqual(PerPayloadKind<Int>.count, PayloadKind.allCases.count)
    }

    /// The closed windows a sensor hands over.
    final class Collector: EventHandler, @unchecked Sendable {
        var windows: [FlowWindow] = []
        func handle(syn: SynObservation) {}
        func handle(request: JudgedRequest) {}
        func idle() {}
        func handle(flowWindow: FlowWindow) { windows.append(flowWindow) }
    }

    func entropy(_ bytes: [UInt8]) -> Float { bytes.withUnsafeBytes { ByteEntropy.of($0).bits } }
    func kind(_ bytes: [UInt8]) -> PayloadKind { bytes.withUnsafeBytes { PayloadKind.classify($0, length: bytes.count).kind } }
    func hello(_ bytes: [UInt8]) -> ClientHello { bytes.withUnsafeBytes { ClientHello($0) } }

    func testEntropyBounds() {
        XCTAssertEqual(entropy([UInt8](repeating: 7, count: 200)), 0, accuracy: 1e-5)
        XCTAssertEqual(entropy((0..<256).map { UInt8($0) }), 8, accuracy: 1e-4)
        XCTAssertEqual(entropy([0, 1, 0, 1]), 1, accuracy: 1e-5)
        // Only the first 256 bytes count.
        XCTAssertEqual([UInt8](repeating: 1, count: 1000).withUnsafeBytes { ByteEntropy.of($0).bytes }, 256)
    }

    /// Runs of equal bytes are counted eight at a time: the figure is Shannon's from the counts,
    /// for runs at any offset, zero padding, text, random bytes and lengths that are not a
    /// multiple of eight.
    func testEntropyOfRunsEqualsShannonsFromTheCounts() {
        func shannon(_ bytes: [UInt8]) -> Double {
            let kept = bytes.prefix(ByteEntropy.maxBytes)
            var counts = [Int](repeating: 0, count: 256)
            for byte in kept { counts[Int(byte)] += 1 }
            let n = Double(kept.count)
            return counts.filter { $0 > 0 }.reduce(0) { $0 - Double($1) / n * log2(Double($1) / n) }
        }
        var random = SystemRandomNumberGenerator()
        let text = Array("GET /index.html HTTP/1.1\r\nHost: www.example.test\r\nAccept: */*\r\n\r\n".utf8)
        var inputs: [[UInt8]] = [
            text + [UInt8](repeating: 0, count: 180), [UInt8](repeating: 0x78, count: 1000), [UInt8](repeating: 0, count: 13),
            (0..<300).map { _ in UInt8.random(in: 0...255, using: &random) },
        ]
        for offset in 0..<9 {
            inputs.append(Array(text.prefix(offset)) + [UInt8](repeating: 0x41, count: 17 + offset) + Array(text.prefix(23)))
        }
        for bytes in inputs {
            XCTAssertEqual(Double(entropy(bytes)), shannon(bytes), accuracy: 1e-4, "\(bytes.count) bytes")
        }
    }

    static func serverName(_ name: String) -> [UInt8] {
        let host = Array(name.utf8)
        return be16(0) + be16(UInt16(host.count + 5)) + be16(UInt16(host.count + 3)) + [0] + be16(UInt16(host.count)) + host
    }

    static func alpn(_ name: String) -> [UInt8] {
        let protocolName = Array(name.utf8)
        let body: [UInt8] = be16(UInt16(protocolName.count + 1)) + [UInt8(protocolName.count)] + protocolName
        return be16(16) + be16(UInt16(body.count)) + body
    }

    static func list(_ kind: UInt16, _ values: [UInt16], lengthBytes: Int = 2) -> [UInt8] {
        let body = values.flatMap { be16($0) }
        let length: [UInt8] = lengthBytes == 2 ? be16(UInt16(body.count)) : [UInt8(body.count)]
        return be16(kind) + be16(UInt16(body.count + lengthBytes)) + length + body
    }

    /// A ClientHello built field by field: by default with a server name and ALPN.
    static func clientHello(
        ciphers: [UInt16] = [0x1301], extensions: [[UInt8]] = [serverName("example.test"), alpn("h2")]
    ) -> [UInt8] {
        let allExtensions = extensions.flatMap { $0 }
        let suites = ciphers.flatMap { be16($0) }
        var hello: [UInt8] = [3, 3] + [UInt8](repeating: 0xAB, count: 32) + [0] + be16(UInt16(suites.count)) + suites + [1, 0]
        hello += be16(UInt16(allExtensions.count)) + allExtensions
        let handshake: [UInt8] = [1, 0] + be16(UInt16(hello.count)) + hello
        return [22, 3, 1] + be16(UInt16(handshake.count)) + handshake
    }

    func testFirstPayloadKinds() {
        XCTAssertEqual(kind(FlowStatsTests.clientHello()), .tls)
        XCTAssertEqual(kind(FlowStatsTests.clientHello(extensions: [])), .bareTLS)
        // An address as server name and no ALPN: bare even when the capture cut the hello short.
        let wrapper = FlowStatsTests.clientHello(extensions: [FlowStatsTests.serverName("10.79.0.2"), [0, 23, 0, 0]])
        XCTAssertEqual(kind(wrapper), .bareTLS)
        XCTAssertEqual(kind(Array(wrapper.dropLast(2))), .bareTLS)
        XCTAssertEqual(kind(FlowStatsTests.clientHello(extensions: [FlowStatsTests.serverName("10.79.0.2.example")])), .tls)
        // Cut short: an absent name is not known to be absent.
        XCTAssertEqual(kind(Array(FlowStatsTests.clientHello(extensions: []).dropLast())), .tls)
        XCTAssertEqual(kind(Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)), .http)
        XCTAssertEqual(kind(Array("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n".utf8)), .httpProxy)
        XCTAssertEqual(kind(Array("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n".utf8)), .httpProxy)
        XCTAssertEqual(kind(Array("GET /http://a HTTP/1.1\r\n\r\n".utf8)), .http)
        // SOCKS 5 greeting offering no authentication; SOCKS 4 connect to 10.0.0.1:80, user "u".
        XCTAssertEqual(kind([5, 1, 0]), .socks)
        XCTAssertEqual(kind([5, 2, 0, 2]), .socks)
        XCTAssertEqual(kind([5, 2, 0]), .other)
        XCTAssertEqual(kind([4, 1, 0, 80, 10, 0, 0, 1, 0x75, 0]), .socks)
        XCTAssertEqual(kind(Array("SSH-2.0-OpenSSH_9.2p1\r\n".utf8)), .ssh)
        // OpenVPN over TCP: length 14, opcode 7 (hard reset client v2), key id 0.
        XCTAssertEqual(kind(be16(14) + [7 << 3] + [UInt8](repeating: 0x55, count: 13)), .openVPN)
        var rng = SplitMix64(seed: 42)
        XCTAssertEqual(kind((0..<200).map { _ in UInt8.random(in: 0...255, using: &rng) }), .opaque)
        XCTAssertEqual(kind(Array(String(repeating: "plain words here ", count: 10).utf8)), .other)
        XCTAssertEqual(kind([1, 2]), .other)
    }

    func testClientHelloNames() {
        let names = hello(FlowStatsTests.clientHello())
        XCTAssertEqual(names.serverName, "example.test")
        XCTAssertEqual(names.alpn, "h2")
        XCTAssertTrue(names.complete)
        // Cut by a snaplen inside the extensions: what is there is read, nothing past the end.
        let cut = hello(Array(FlowStatsTests.clientHello().prefix(70)))
        XCTAssertNil(cut.alpn)
        XCTAssertNil(cut.ja4)
        XCTAssertFalse(cut.complete)
        // An empty server name extension, last, with bytes after the extensions that would read
        // as a name: the server sees no name, and neither does the reader; JA4 still says the
        // extension is there.
        var trailing = FlowStatsTests.clientHello(extensions: [[0, 0, 0, 0]])
        let extra: [UInt8] = [0, 0, 0, 0, 12] + Array("fake.example".utf8)
        trailing += extra
        for (at, width) in [(3, 2), (6, 3)] {
            let length = (at..<at + width).reduce(0) { $0 << 8 | Int(trailing[$1]) } + extra.count
            for k in 0..<width { trailing[at + k] = UInt8(truncatingIfNeeded: length >> (8 * (width - 1 - k))) }
        }
        let empty = hello(trailing)
        XCTAssertTrue(empty.complete)
        XCTAssertNil(empty.serverName)
        XCTAssertEqual(empty.ja4?.prefix(4), "t12d")
    }

    /// JA4's published example (FoxIO's JA4 specification): a Chrome ClientHello with GREASE
    /// values among its ciphers and extensions, which JA4 leaves out.
    func testJA4OfThePublishedExample() {
        let ciphers: [UInt16] = [
            0x1A1A, 0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035,
        ]
        let signatureAlgorithms: [UInt16] = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
        func empty(_ kind: UInt16) -> [UInt8] { be16(kind) + be16(0) }
        let extensions: [[UInt8]] = [
            empty(0x2A2A), FlowStatsTests.serverName("example.test"), empty(0x0017), empty(0xFF01), FlowStatsTests.list(0x000A, [0x001D]),
            FlowStatsTests.list(0x000B, [0], lengthBytes: 1), empty(0x0023), FlowStatsTests.alpn("h2"),
            be16(0x0005) + be16(5) + [1, 0, 0, 0, 0],
            FlowStatsTests.list(0x000D, signatureAlgorithms), empty(0x0012), FlowStatsTests.list(0x0033, []),
            FlowStatsTests.list(0x002D, [0x0100], lengthBytes: 1), FlowStatsTests.list(0x002B, [0x3A3A, 0x0304, 0x0303], lengthBytes: 1),
            FlowStatsTests.list(0x001B, [0x0002]), empty(0x4469), empty(0x0015), empty(0x5A5A),
        ]
        let chrome = hello(FlowStatsTests.clientHello(ciphers: ciphers, extensions: extensions))
        XCTAssertEqual(chrome.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1")
        // Without a server name, ALPN or signature algorithms, as a TLS wrapper may send.
        let bare = hello(FlowStatsTests.clientHello(ciphers: [0xC02F], extensions: [empty(0x0017)]))
        XCTAssertTrue(bare.isBare)
        XCTAssertEqual(bare.ja4?.prefix(10), "t12i010100")
    }

    /// Real clients' ClientHellos (tools/netns-tls.py): the browsers' span two segments (their
    /// post-quantum key shares) and are read whole. Every client's server name, first ALPN
    /// protocol and JA4 counts are those docs/TLS-CLIENTS.md gives from the same hellos.
    func testRealClientsHellosAreReadWholeAcrossSegments() throws {
        let collector = Collector()
        let sensor = Sensor(
            settings: Settings(), database: try shippedDatabase(), judging: false, flowStatistics: true, threaded: false, handler: collector
        )
        feed(try packets(of: fixture("tls-clients.pcap")), to: sensor)
        sensor.finish()
        // kind: JA4's first part (version, SNI, suites, extensions, ALPN), from the documented counts.
        let expected: [String: String] = [
            "chromium": "t13d1517h2", "firefox": "t13d1617h2", "curl": "t13d3112h2", "wget": "t13d291300", "gnutls": "t13d291300",
            "openssl": "t13d311000", "python": "t13d3113h1", "node": "t13d591000", "java": "t13d3713h2", "go": "t13d1910h2",
        ]
        let labels = try jsonLines(of: fixture("tls-clients.labels.jsonl"))
        XCTAssertEqual(labels.count, expected.count)
        for label in labels {
            let kind = try XCTUnwrap(label["kind"] as? String)
            let address = try XCTUnwrap(label["client_ip"] as? String)
            let window = try XCTUnwrap(collector.windows.first { $0.client == IPAddress(address) }, kind)
            XCTAssertEqual(window.serverName, "tls.synprint.test", kind)
            XCTAssertEqual(window.ja4?.prefix(10).description, expected[kind], kind)
        }
        // Chromium's suites are Chrome's: the cipher hash FoxIO publishes for it.
        let chromium = try XCTUnwrap(labels.first { $0["kind"] as? String == "chromium" }?["client_ip"] as? String)
        XCTAssertEqual(collector.windows.first { $0.client == IPAddress(chromium) }?.ja4?.split(separator: "_")[1], "8daaf6152771")
        sensor.publishStatus()
        XCTAssertEqual(sensor.captureStatus.flowStats?.hellosUnread, 0)
    }

    /// A hello over two segments is read whole; with its second segment missing it is counted
    /// as unread, and the first segment's names still count.
    func testHelloOverTwoSegmentsAndItsGap() throws {
        let padding = be16(0x0015) + be16(1500) + [UInt8](repeating: 0, count: 1500)
        let whole = FlowStatsTests.clientHello(
            ciphers: [0x1301, 0xC02F], extensions: [FlowStatsTests.serverName("example.test"), FlowStatsTests.alpn("h2"), padding])
        XCTAssertTrue(hello(whole).complete)
        func split(dropSecond: Bool) -> ConnectionTests.Conversation {
            var c = FlowStatsTests.opening(whole, segments: [0..<1000, (dropSecond ? 1400 : 1000)..<whole.count])
            c.server(payload: 100)
            return c
        }
        let (read, sensor) = try windows([split(dropSecond: false)])
        XCTAssertEqual(read.first?.ja4, hello(whole).ja4)
        sensor.publishStatus()
        XCTAssertEqual(sensor.captureStatus.flowStats?.hellosUnread, 0)
        let (gap, gapSensor) = try windows([split(dropSecond: true)])
        XCTAssertNil(gap.first?.ja4)
        XCTAssertEqual(gap.first?.serverName, "example.test")
        gapSensor.publishStatus()
        XCTAssertEqual(gapSensor.captureStatus.flowStats?.hellosUnread, 1)
    }

    // MARK: Windows and rules

    /// A handshake, then the client's first bytes `payload` in segments of these ranges, 1 ms
    /// apart (a range left out of the ranges is a gap); `kept`: the bytes of each segment's
    /// payload the capture keeps (a snaplen), all by default.
    static func opening(_ payload: [UInt8], segments: [Range<Int>], kept: Int? = nil) -> ConnectionTests.Conversation {
        var c = ConnectionTests.Conversation()
        c.handshake()
        var p = PacketBuilder()
        p.flags = 0x18
        p.options = []
        p.acknowledgment = c.serverISN + 1
        for range in segments {
            p.sequence = c.clientISN + 1 + UInt32(range.lowerBound)
            p.payload = Array(payload[range])
            var frame = p.ipv4()
            // The IP and TCP headers keep the whole length; the capture cut the bytes.
            if let kept, kept < p.payload.count { frame.removeLast(p.payload.count - kept) }
            c.add(frame, after: 1000)
        }
        c.clientSent += UInt32(payload.count)
        return c
    }

    /// A client 10.0.0.3 talking to 10.0.0.1:443: `exchanges` rounds of an upstream payload and
    /// a downstream answer, 50 ms apart, on one connection.
    func conversation(firstPayload: [UInt8], exchanges: Int, up: Int, down: Int, seconds: Double) -> ConnectionTests.Conversation {
        var c = FlowStatsTests.opening(firstPayload, segments: [0..<firstPayload.count])
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
        var settings = Settings()
        settings.flowWindowPackets = windowPackets
        settings.flowWindowSeconds = 600
        let collector = Collector()
        let sensor = Sensor(
            settings: settings, database: try shippedDatabase(), judging: judging, flowStatistics: true, threaded: false,
            handler: collector)
        ConnectionTests.replay(conversations, into: sensor)
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
