import XCTest

@testable import Decode
@testable import Features
@testable import Match
@testable import SynprintKit
@testable import Verdict

/// Floods against the tables: spoofed SYNs, never-ending request heads, huge User-Agents. The
/// tables stay within their budgets, count what they push out, and keep the real clients.
final class FloodTests: XCTestCase {
    var rng = SplitMix64(seed: 0xF100D)

    func packet(from source: UInt32, port: UInt16, flags: UInt8 = 0x02, sequence: UInt32 = 1000, payload: [UInt8] = []) -> [UInt8] {
        var p = PacketBuilder()
        p.sourcePort = port
        p.destinationPort = 80
        p.flags = flags
        p.sequence = sequence
        p.payload = payload
        if flags != 0x02 { p.options = [] }
        return PacketBuilder.ethernet(
            p.ipv4(source: [UInt8(source >> 24), UInt8(source >> 16 & 0xFF), UInt8(source >> 8 & 0xFF), UInt8(source & 0xFF)]))
    }

    func request(_ userAgent: String) -> [UInt8] {
        Array("GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: \(userAgent)\r\n\r\n".utf8)
    }

    func feed(_ sensor: Sensor, _ bytes: [UInt8], at seconds: Int) {
        _ = bytes.withUnsafeBytes { sensor.process(Packet(seconds: seconds, microseconds: 0, bytes: $0), link: .ethernet) }
    }

    /// Real clients complete handshakes and send requests; then 20 times the host table's size
    /// in spoofed SYNs arrives. Every real client still answers a lookup.
    func testASpoofedSynFloodDoesNotEvictRealClients() throws {
        var settings = Settings()
        settings.maxHosts = 1000
        let events = EventCollector()
        let sensor = Sensor(settings: settings, database: try shippedDatabase(), judging: true, threaded: false, handler: events)
        let real = (1...200).map { UInt32(0x0A00_0000 + $0) }
        for (i, address) in real.enumerated() {
            feed(sensor, packet(from: address, port: 40000), at: 100 + i)
            feed(
                sensor,
                packet(from: address, port: 40000, flags: 0x18, sequence: 1001, payload: request("Mozilla/5.0 (X11; Linux x86_64)")),
                at: 100 + i)
        }
        XCTAssertEqual(events.requests.count, real.count)
        for i in 0..<20_000 {
            feed(
                sensor, packet(from: UInt32.random(in: 0xC000_0000...0xDFFF_FFFF, using: &rng), port: UInt16(1024 + i % 60000)),
                at: 400 + i / 1000)
        }
        let hosts = try XCTUnwrap(sensor.judge?.hosts)
        XCTAssertEqual(hosts.count, 1000)
        for address in real {
            XCTAssertNotNil(hosts.host(IPAddress(v4: address)), "client \(address) was pushed out by the flood")
        }
        XCTAssertEqual(hosts.evictions.withEvidence, 0)
        XCTAssertGreaterThan(hosts.evictions.total, 18_000)
    }

    /// Real clients answer their servers and start their requests; then 20 times the tables'
    /// size in spoofed SYNs arrives, and then the rest of each request. Every request is judged
    /// and every real client's flow window counts all its packets: the flood pushed out only
    /// its own sources.
    func testASpoofedSynFloodDoesNotEndRealClientsRequestsOrWindows() throws {
        var settings = Settings()
        settings.maxAwaiting = 1000
        settings.maxFlowClients = 1000
        let events = EventCollector()
        let sensor = Sensor(
            settings: settings, database: try shippedDatabase(), judging: true, flowStatistics: true, threaded: false, handler: events)
        let real = (1...200).map { UInt32(0x0A00_0000 + $0) }
        let head = request("Mozilla/5.0 (X11; Linux x86_64)")
        let split = 20
        for address in real {
            feed(sensor, packet(from: address, port: 40000), at: 100)
            feed(sensor, packet(from: address, port: 40000, flags: 0x10, sequence: 1001), at: 100)
            feed(sensor, packet(from: address, port: 40000, flags: 0x18, sequence: 1001, payload: Array(head[..<split])), at: 100)
        }
        for i in 0..<20_000 {
            feed(
                sensor, packet(from: UInt32.random(in: 0xC000_0000...0xDFFF_FFFF, using: &rng), port: UInt16(1024 + i % 60000)),
                at: 101 + i / 2000)
        }
        for address in real {
            feed(
                sensor, packet(from: address, port: 40000, flags: 0x18, sequence: 1001 + UInt32(split), payload: Array(head[split...])),
                at: 111)
        }
        sensor.finish()
        XCTAssertEqual(events.requests.count, real.count)
        let windows = Dictionary(grouping: events.flowWindows, by: \.client)
        for address in real {
            let window = try XCTUnwrap(windows[IPAddress(v4: address)]?.first, "client \(address) lost its window")
            XCTAssertEqual(window.up.packets, 4)
        }
        XCTAssertGreaterThan(try XCTUnwrap(sensor.pipeline.tracker).counters.evicted, 18_000)
        XCTAssertGreaterThan(try XCTUnwrap(sensor.pipeline.flowStats).counters.clientsEvicted, 18_000)
    }

    /// Half-open connections that send a head that never ends: the buffered bytes stay within
    /// the budget and the overflow is counted.
    func testNeverEndingRequestHeadsStayWithinTheirBudget() throws {
        var settings = Settings()
        settings.memcap = 16 << 20
        let sensor = Sensor(settings: settings, database: try shippedDatabase(), judging: true, threaded: false, handler: EventCollector())
        let tracker = try XCTUnwrap(sensor.pipeline.tracker)
        let chunk = Array("GET /x HTTP/1.1\r\nX-Pad: ".utf8) + [UInt8](repeating: 0x61, count: 1400)
        for flow in 0..<4000 {
            let address = UInt32(0x0A01_0000 + flow)
            feed(sensor, packet(from: address, port: 50000), at: 100)
            var sequence: UInt32 = 1001
            for _ in 0..<5 {
                feed(sensor, packet(from: address, port: 50000, flags: 0x18, sequence: sequence, payload: chunk), at: 101)
                sequence &+= UInt32(chunk.count)
            }
            XCTAssertLessThanOrEqual(tracker.bufferedBytes, settings.headBudget)
        }
        XCTAssertGreaterThan(tracker.counters.overBudget, 0)
    }

    /// 8 KB User-Agents from many hosts: what the host table keeps of them is cut and interned
    /// within its budget.
    func testHugeUserAgentsAreCutAndBudgeted() throws {
        var settings = Settings()
        settings.memcap = 16 << 20
        let sensor = Sensor(settings: settings, database: try shippedDatabase(), judging: true, threaded: false, handler: EventCollector())
        for host in 0..<3000 {
            let address = UInt32(0x0A02_0000 + host)
            let agent = "Mozilla/5.0 (X11; Linux x86_64) " + String(repeating: "x", count: 6000) + "\(host)"
            feed(sensor, packet(from: address, port: 40000), at: 100)
            feed(sensor, packet(from: address, port: 40000, flags: 0x18, sequence: 1001, payload: request(agent)), at: 100)
        }
        let hosts = try XCTUnwrap(sensor.judge?.hosts)
        let kept = try XCTUnwrap(hosts.host(IPAddress(v4: 0x0A02_0000 + 2999))?.latest?.request?.userAgent)
        XCTAssertEqual(kept.utf8.count, HTTPRequestHead.keptLength.userAgent)
        XCTAssertLessThanOrEqual(hosts.count, settings.hostCapacity)
    }

    /// Alerts are limited per client and in all; the rest are counted.
    func testAlertRateLimits() {
        let limiter = AlertLimiter(perHost: 3, window: 60, perSecond: 5)
        let one = IPAddress(v4: 1), two = IPAddress(v4: 2)
        XCTAssertEqual((0..<10).filter { _ in limiter.allow(one, at: 100) }.count, 3)
        XCTAssertEqual((0..<10).filter { _ in limiter.allow(two, at: 100) }.count, 2)  // the second's budget of 5 is spent
        XCTAssertEqual(limiter.suppressed, 15)
        XCTAssertTrue(limiter.allow(two, at: 101))
        XCTAssertFalse(limiter.allow(one, at: 120))  // still within one's minute
        XCTAssertTrue(limiter.allow(one, at: 160))
    }

    /// The budgets follow --memcap, and the default stays well under the robustness target.
    func testBudgetsFollowTheMemcap() {
        var settings = Settings()
        XCTAssertEqual(
            settings.awaitingCapacity,
            min(settings.maxAwaiting, settings.memcap / 100 * Settings.MemoryShares.connections / ConnectionTracker.bytesPerConnection))
        let defaultHosts = settings.hostCapacity
        settings.memcap = 32 << 20
        XCTAssertLessThan(settings.hostCapacity, defaultHosts)
        XCTAssertEqual(
            Settings.MemoryShares.connections + Settings.MemoryShares.requestHeads + Settings.MemoryShares.hosts
                + Settings.MemoryShares.strings + Settings.MemoryShares.matchCache + Settings.MemoryShares.connectionRecords
                + Settings.MemoryShares.flowStatistics + Settings.MemoryShares.clientHellos + Settings.MemoryShares.routes, 100)
    }
}
