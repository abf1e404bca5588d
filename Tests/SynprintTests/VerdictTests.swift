import Tables
import XCTest

@testable import Decode
@testable import Features
@testable import Match
@testable import Verdict

final class VerdictTests: XCTestCase {
    // MARK: User-Agent rules

    func testUserAgentRules() {
        let cases: [(String, OSClass?, OSFamily?)] = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36", .windows, .windows),
            ("Microsoft NCSI", .windows, .windows),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/130.0 Mobile Safari/537.36", .android, .linuxLike),
            ("Dalvik/2.1.0 (Linux; U; Android 10; Redmi Note 9 Pro)", .android, .linuxLike),
            ("Mozilla/5.0 (X11; CrOS x86_64 15633.69.0) AppleWebKit/537.36 Chrome/130.0", .chromeOS, .linuxLike),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", .iOS, .apple),
            ("AppleCoreMedia/1.0.0.14C92 (iPhone; U; CPU OS 10_2 like Mac OS X; en_us)", .iOS, .apple),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15", .macOS, .apple),
            ("Magican (unknown version) CFNetwork/720.5.7 Darwin/14.5.0 (x86_64)", .macOS, .apple),
            ("MyApp/3 CFNetwork/1494.0.7 Darwin/23.4.0", nil, .apple),
            ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:89.0) Gecko/20100101 Firefox/89.0", .linux, .linuxLike),
            ("Mozilla/5.0 (X11; FreeBSD amd64; rv:128.0) Gecko/20100101 Firefox/128.0", .freeBSD, .bsd),
            ("Mozilla/5.0 (X11; OpenBSD amd64; rv:128.0) Gecko/20100101 Firefox/128.0", .openBSD, .bsd),
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", nil, nil),
            ("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X) Chrome/130.0 Mobile Safari/537.36 (compatible; Googlebot/2.1)", nil, nil),
            ("curl/8.5.0", nil, nil),
            ("", nil, nil),
        ]
        for (ua, osClass, family) in cases {
            let claimed = UserAgentRules.claimedOS(userAgent: ua)
            XCTAssertEqual(claimed?.osClass, osClass, ua)
            XCTAssertEqual(claimed?.family, family, ua)
        }
        // The client hint wins over the string; an unknown hint defers to it.
        let ua = cases[0].0
        XCTAssertEqual(UserAgentRules.claimedOS(userAgent: ua, platformHint: "\"Linux\"")?.osClass, .linux)
        XCTAssertEqual(UserAgentRules.claimedOS(userAgent: ua, platformHint: "\"Chrome OS\"")?.osClass, .chromeOS)
        XCTAssertEqual(UserAgentRules.claimedOS(userAgent: ua, platformHint: "\"Unknown\"")?.osClass, .windows)
    }

    /// The dev labels come from the User-Agents of real traffic; the rules must read them alike.
    func testUserAgentRulesAgreeWithTheDevLabels() throws {
        var checked = 0, agreed = 0
        var disagreements: Set<String> = []
        for label in try devLabels() {
            guard let source = label["label_source"] as? String, source.hasPrefix("http_user_agent"),
                let ua = label["user_agent"] as? String, let expected = OSClass(name: label["os_class"] as! String)
            else { continue }
            checked += 1
            if UserAgentRules.claimedOS(userAgent: ua)?.osClass == expected { agreed += 1 } else { disagreements.insert(ua) }
        }
        XCTAssertGreaterThan(checked, 500)
        XCTAssertGreaterThanOrEqual(Double(agreed) / Double(checked), 0.99, "disagree: \(disagreements)")
    }

    // MARK: HTTP request heads

    func parse(_ text: String) -> HTTPParse {
        Array(text.utf8).withUnsafeBytes { HTTPRequestParser.parse($0) }
    }

    func testRequestHeadParsing() {
        let head =
            "GET /x HTTP/1.1\r\nHost: example.test\r\nuser-agent:  Agent/1 \r\nSec-CH-UA-Platform: \"Windows\"\r\n"
            + "X-Forwarded-For: 198.51.100.7\r\nVIA: 1.1 squid\r\n\r\nbody"
        guard case .complete(let request) = parse(head) else { return XCTFail("\(parse(head))") }
        XCTAssertEqual(request.method, "GET")
        XCTAssertEqual(request.host, "example.test")
        XCTAssertEqual(request.userAgent, "Agent/1")
        XCTAssertEqual(request.platformHint, "\"Windows\"")
        XCTAssertEqual(request.proxyHeaders, ["x-forwarded-for", "via"])
        XCTAssertEqual(
            parse("GET /x HTTP/1.1\nUser-Agent: A\n\n"),
            .complete(HTTPRequestHead(method: "GET", userAgent: "A", ja4h: "ge11nn010000_b8bcd45ac095_000000000000_000000000000")))
        XCTAssertEqual(parse("GE"), .incomplete)
        XCTAssertEqual(parse("POST /x HTTP/1.1\r\nHost: a\r\n"), .incomplete)
        XCTAssertEqual(parse("\u{16}\u{03}\u{01}\u{02}\u{00}"), .notHTTP)  // a TLS ClientHello
        XCTAssertEqual(parse("SSH-2.0-OpenSSH_9.6\r\n"), .notHTTP)
        XCTAssertEqual(parse("GET / HTTP/1.1\r\n" + String(repeating: "X-Pad: 0123456789\r\n", count: 600)), .tooLong)
    }

    // MARK: links

    func synFingerprint(mss: UInt16, window: UInt16) throws -> Fingerprint {
        var p = PacketBuilder()
        p.options[2...3] = [UInt8(mss >> 8), UInt8(mss & 0xFF)]
        p.window = window
        return try p.ipv4().withUnsafeBytes { raw in
            let s = try decodedSegment(raw)
            return Fingerprint(s, in: raw)
        }
    }

    func testPathModelFindsLinksTunnelsAndClampedMSS() throws {
        let db = try Database.load(file: repositoryRoot.appendingPathComponent("database/synprint.db.jsonl").path)
        let model = PathModel(db.links)
        let ethernet = model.path(for: try synFingerprint(mss: 1460, window: 64240))
        XCTAssertEqual(ethernet.mtu, 1500)
        XCTAssertEqual(ethernet.linkName(in: db), "Ethernet or modem")
        XCTAssertEqual(ethernet.tunnel, false)
        XCTAssertEqual(ethernet.clamped, false)
        XCTAssertEqual(ethernet.hops, 7)  // TTL 57 from 64
        let wireGuard = model.path(for: try synFingerprint(mss: 1380, window: 64860))  // 47 × 1380: the host's own MSS
        XCTAssertEqual(wireGuard.linkName(in: db), "WireGuard")
        XCTAssertEqual(wireGuard.tunnel, true)
        XCTAssertEqual(wireGuard.clamped, false)
        let clamped = model.path(for: try synFingerprint(mss: 1380, window: 64240))  // 44 × 1460, MSS rewritten
        XCTAssertEqual(clamped.clamped, true)
        XCTAssertEqual(clamped.originalMSS, 1460)
        // A PPPoE host (MSS 1452 → 45 × 1452) behind a box that clamps to 1400.
        XCTAssertEqual(model.path(for: try synFingerprint(mss: 1400, window: 65340)).originalMSS, 1452)
        XCTAssertEqual(model.path(for: try synFingerprint(mss: 1452, window: 64240)).linkName(in: db), "DSL (PPPoE)")
        XCTAssertEqual(model.path(for: try synFingerprint(mss: 1412, window: 64240)).linkName(in: db), "DSL (PPPoE over ATM)")
        // 65535 is what a large buffer gives, not a multiple of any MSS; an unlisted low MTU is a tunnel.
        let unlisted = model.path(for: try synFingerprint(mss: 1284, window: 65535))
        XCTAssertNil(unlisted.linkIndex)
        XCTAssertFalse(unlisted.clamped)
        XCTAssertTrue(unlisted.tunnel)
        XCTAssertFalse(model.path(for: try synFingerprint(mss: 1460, window: 8192)).clamped)
    }

    // MARK: verdict rules

    func classification(_ osClass: OSClass, confidence: Float, familyConfidence: Float? = nil) -> Classification {
        Classification(
            answerID: 1, osClass: osClass, family: osClass.family, confidence: confidence,
            familyConfidence: familyConfidence ?? confidence, kind: .exact,
            classScores: InlineArray(repeating: 0), best: TopCandidates())
    }

    func testVerdictRules() {
        let rules = VerdictRules()
        let windows = ClaimedOS(.windows)
        func verdict(
            _ claimed: ClaimedOS?, _ c: Classification?, path: NetworkPath? = nil, proxy: Bool = false, sharing: Bool = false
        ) -> Verdict {
            rules.verdict(claimed: claimed, classification: c, path: path, proxyHeaders: proxy, ipSharing: sharing)
        }
        let mismatch = verdict(windows, classification(.linux, confidence: 0.95))
        XCTAssertEqual(mismatch.reasons, [.osMismatch])
        XCTAssertTrue(mismatch.flagged)
        XCTAssertEqual(mismatch.score, 0.7, accuracy: 1e-6)
        // An unsure or unknown TCP guess never contradicts the User-Agent.
        XCTAssertEqual(verdict(windows, classification(.linux, confidence: 0.6)).reasons, [])
        XCTAssertEqual(verdict(windows, classification(.unknown, confidence: 0.3)).reasons, [])
        // Same family: no mismatch at the default level, even between classes.
        XCTAssertEqual(verdict(ClaimedOS(.chromeOS), classification(.linux, confidence: 0.99)).reasons, [])
        XCTAssertEqual(verdict(ClaimedOS(.macOS), classification(.iOS, confidence: 0.99)).reasons, [])
        XCTAssertEqual(verdict(ClaimedOS(.android), classification(.linux, confidence: 0.99)).reasons, [])
        var byClass = rules
        byClass.level = .osClass
        let android = byClass.verdict(
            claimed: ClaimedOS(.android), classification: classification(.linux, confidence: 0.99),
            path: nil, proxyHeaders: false, ipSharing: false)
        XCTAssertEqual(android.reasons, [.osMismatch])
        let chromeOS = byClass.verdict(
            claimed: ClaimedOS(.chromeOS), classification: classification(.linux, confidence: 0.99),
            path: nil, proxyHeaders: false, ipSharing: false)
        XCTAssertEqual(chromeOS.reasons, [])
        // A tunnel MTU alone is weak: reported, scored below an OS mismatch, not flagged.
        let tunnel = NetworkPath(mss: 1380, mtu: 1420, linkIndex: nil, tunnel: true, clamped: false, originalMSS: nil, hops: 3)
        let tunnelled = verdict(windows, classification(.windows, confidence: 0.95), path: tunnel)
        XCTAssertEqual(tunnelled.reasons, [.tunnelMTU])
        XCTAssertFalse(tunnelled.flagged)
        XCTAssertLessThan(tunnelled.score, mismatch.score)
        // Reasons combine: 1 − (1 − 0.3)(1 − 0.25)(1 − 0.3).
        var clamped = tunnel
        clamped.clamped = true
        let several = verdict(windows, classification(.windows, confidence: 0.95), path: clamped, sharing: true)
        XCTAssertEqual(several.reasons, [.tunnelMTU, .mssClamped, .ipSharing])
        XCTAssertEqual(several.score, 1 - 0.7 * 0.75 * 0.7, accuracy: 1e-6)
        XCTAssertTrue(several.flagged)
        XCTAssertTrue(verdict(nil, nil, proxy: true).flagged)
        XCTAssertEqual(verdict(nil, nil).score, 0)
        var strict = rules
        XCTAssertNil(strict.set("threshold=0.8"))
        XCTAssertFalse(
            strict.verdict(
                claimed: windows, classification: classification(.linux, confidence: 0.95),
                path: nil, proxyHeaders: false, ipSharing: false
            ).flagged)
        XCTAssertNotNil(strict.set("os_mismatch=2"))
        XCTAssertNotNil(strict.set("nonsense=0.1"))
        XCTAssertNotNil(strict.set("level=planet"))
    }

    // MARK: bounded tables

    func testBoundedTableEvictsTheOldest() {
        var table = BoundedTable<Int, String>(capacity: 3)
        for i in 0..<3 { XCTAssertNil(table.insert("\(i)", for: i)) }
        XCTAssertEqual(table.insert("3", for: 3)?.key, 0)
        XCTAssertNil(table[0])
        XCTAssertEqual(table[3], "3")
        XCTAssertNil(table.insert("three", for: 3))  // replaced in place
        XCTAssertEqual(table.count, 3)
        // A removed entry's slot is taken before anything is pushed out, and a full table then
        // pushes out the oldest inserted, wherever its slot.
        table.remove(2)
        XCTAssertNil(table.insert("4", for: 4))
        XCTAssertEqual(table.insert("5", for: 5)?.key, 1)
        XCTAssertEqual(table.insert("6", for: 6)?.key, 3)
        XCTAssertEqual(table.insert("7", for: 7)?.key, 4)
        XCTAssertEqual(table.insert("8", for: 8)?.key, 5)
        table.remove(6)
        XCTAssertEqual(table.count, 2)
        for i in 10..<100 { table.insert("\(i)", for: i) }
        XCTAssertEqual(table.count, 3)
        XCTAssertEqual(table[99], "99")
    }

    /// Kept entries outlive any number of others, up to the limit, past which the oldest kept
    /// goes back among the others.
    func testBoundedTableKeepsWhatMatters() {
        var table = BoundedTable<Int, String>(capacity: 8)
        XCTAssertEqual(table.keptLimit, 6)
        for i in 0..<8 { table.insert("\(i)", for: i) }
        for key in [2, 5] { table.keep(slot: table.slot(of: key)!) }
        for i in 8..<100 { XCTAssertNotEqual(table.insert("\(i)", for: i)?.key, 2) }
        XCTAssertEqual(table[2], "2")
        XCTAssertEqual(table[5], "5")
        XCTAssertEqual(table.keptCount, 2)
        // Kept again: nothing changes. Removed: its slot is free and it is no longer counted.
        table.keep(slot: table.slot(of: 2)!)
        table.remove(5)
        XCTAssertEqual(table.keptCount, 1)
        XCTAssertNil(table.insert("100", for: 100))
        // Past the limit the oldest kept (2) goes back among the others, newest there.
        for key in [94, 95, 96, 97, 98, 99] { table.keep(slot: table.slot(of: key)!) }
        XCTAssertEqual(table.keptCount, 6)
        XCTAssertEqual(table.insert("101", for: 101)?.key, 100)
        XCTAssertEqual(table.insert("102", for: 102)?.key, 2)
        // With only kept entries left, the oldest kept goes.
        var small = BoundedTable<Int, String>(capacity: 2)
        for i in 0..<2 {
            small.insert("\(i)", for: i)
            small.keep(slot: small.slot(of: i)!)
        }
        XCTAssertEqual(small.insert("2", for: 2)?.key, 0)
    }

    func observed(_ fp: Fingerprint, at seconds: Int, classification c: Classification? = nil) -> SynObservation {
        SynObservation(seconds: seconds, microseconds: 0, fingerprint: fp, classification: c)
    }

    func testHostTableSeesSharedAddresses() throws {
        let hosts = HostTable(capacity: 2, sharingWindow: 600, minimumConfidence: 0.8)
        let fp = try synFingerprint(mss: 1460, window: 64240)
        XCTAssertFalse(hosts.record(observed(fp, at: 100, classification: classification(.windows, confidence: 0.95))))
        XCTAssertFalse(hosts.record(observed(fp, at: 110, classification: classification(.windows, confidence: 0.95))))
        // An unsure guess is not a second stack; a confident Linux one within the window is.
        XCTAssertFalse(hosts.record(observed(fp, at: 120, classification: classification(.linux, confidence: 0.5))))
        XCTAssertTrue(hosts.record(observed(fp, at: 130, classification: classification(.linux, confidence: 0.95))))
        XCTAssertTrue(hosts.sharing(fp.ip.source, at: 140))
        XCTAssertFalse(hosts.sharing(fp.ip.source, at: 130 + 601))
        let host = try XCTUnwrap(hosts.host(fp.ip.source))
        XCTAssertEqual(host.connections, 4)
        XCTAssertEqual(host.recent.count, 4)
        XCTAssertEqual(host.latest?.syn.seconds, 130)
        XCTAssertEqual(host.lastChange, 130)
        // Long after, a different stack is a change of OS, not sharing.
        XCTAssertFalse(hosts.record(observed(fp, at: 5000, classification: classification(.windows, confidence: 0.95))))
    }

    func testTrackerReadsARequestSplitOverSegmentsAndCountsWhatItDrops() throws {
        let tracker = ConnectionTracker(capacity: 2, timeout: 60, headBudget: 1 << 20)
        let syn = try synFingerprint(mss: 1460, window: 64240)
        tracker.opened(observed(syn, at: 100))
        func send(_ text: String, offset: UInt32, at seconds: Int = 101) throws -> TrackedSegment {
            var p = PacketBuilder()
            p.flags = 0x18
            p.options = []
            p.sequence = syn.segment.sequence &+ 1 &+ offset
            p.payload = Array(text.utf8)
            return try p.ipv4().withUnsafeBytes { raw in
                let s = try decodedSegment(raw)
                return tracker.segment(s, in: raw, seconds: seconds, microseconds: 0)
            }
        }
        func request(_ outcome: TrackedSegment) -> HTTPObservation? {
            if case .request(let observation) = outcome { observation } else { nil }
        }
        let first = "GET / HTTP/1.1\r\nUser-Ag"
        // The first data of the connection: its client completed the handshake.
        guard case .established(let address) = try send(first, offset: 0) else { return XCTFail("first data not reported") }
        XCTAssertEqual(address, syn.ip.source)
        XCTAssertNil(request(try send(first, offset: 0)))  // a retransmission changes nothing
        let done = request(try send("ent: Split/1\r\n\r\n", offset: UInt32(first.utf8.count)))
        XCTAssertEqual(done?.request.userAgent, "Split/1")
        XCTAssertEqual(tracker.counters.requests, 1)
        XCTAssertEqual(tracker.waiting, 0)
        XCTAssertEqual(tracker.bufferedBytes, 0)
        // A gap, a non-HTTP start, a late request and a full table are each counted.
        tracker.opened(observed(syn, at: 200))
        XCTAssertNil(request(try send("GET / HTTP/1.1\r\n", offset: 5)))
        XCTAssertEqual(tracker.counters.gaps, 1)
        tracker.opened(observed(syn, at: 300))
        XCTAssertNil(request(try send("\u{16}\u{03}\u{01}", offset: 0)))
        XCTAssertEqual(tracker.counters.notHTTP, 1)
        tracker.opened(observed(syn, at: 400))
        XCTAssertNil(request(try send("GET / HTTP/1.1\r\n\r\n", offset: 0, at: 500)))
        XCTAssertEqual(tracker.counters.expired, 1)
        var other = syn
        for port in 1...3 {
            other.segment.sourcePort = UInt16(port)
            tracker.opened(observed(other, at: 600))
        }
        XCTAssertEqual(tracker.counters.evicted, 1)
        XCTAssertEqual(tracker.waiting, 2)
        // A full table pushes out the oldest; one that waited past the timeout counts as expired.
        tracker.opened(observed(syn, at: 700))
        XCTAssertEqual(tracker.counters.expired, 2)
        XCTAssertEqual(tracker.waiting, 2)
    }

    /// Unfinished heads share one byte budget: past it, a connection is dropped and counted.
    func testBufferedHeadsStayWithinTheirBudget() throws {
        let tracker = ConnectionTracker(capacity: 64, timeout: 60, headBudget: 3000)
        let head = "GET / HTTP/1.1\r\nX-Pad: " + String(repeating: "a", count: 1000)
        var syn = try synFingerprint(mss: 1460, window: 64240)
        for port in 1...5 {
            syn.segment.sourcePort = UInt16(port)
            tracker.opened(observed(syn, at: 100))
            var p = PacketBuilder()
            p.sourcePort = UInt16(port)
            p.flags = 0x18
            p.options = []
            p.sequence = syn.segment.sequence &+ 1
            p.payload = Array(head.utf8)
            _ = try p.ipv4().withUnsafeBytes { raw in tracker.segment(try decodedSegment(raw), in: raw, seconds: 101, microseconds: 0) }
            XCTAssertLessThanOrEqual(tracker.bufferedBytes, 3000)
        }
        XCTAssertEqual(tracker.counters.overBudget, 3)
        XCTAssertEqual(tracker.waiting, 2)
    }

    /// The forward-auth subrequest's headers: the last address of a list, a port with spaces,
    /// the headers a verdict reads (not the proxy's own address header), and the two refusals.
    func testForwardAuthHeadersAreReadAsTheProxySetsThem() throws {
        func read(_ fields: [(String, String)]) -> Result<ForwardAuthRequest, ForwardAuthRequest.Problem> {
            ForwardAuthRequest.read(
                fields.map { (name: $0.0, value: $0.1) }, addressHeader: "X-Forwarded-For", portHeader: "X-Real-Port",
                userAgentHeader: "User-Agent")
        }
        func problem(_ fields: [(String, String)]) -> ForwardAuthRequest.Problem? {
            if case .failure(let problem) = read(fields) { return problem }
            return nil
        }
        let asked = try read([
            ("x-forwarded-for", "203.0.113.9, 198.51.100.7 "), ("X-Real-Port", " 50412"), ("User-Agent", "curl/8.5.0"),
            ("Via", "1.1 edge"),
        ]).get()
        XCTAssertEqual(asked.address, IPAddress("198.51.100.7"))
        XCTAssertEqual(asked.port, 50412)
        XCTAssertEqual(asked.head.userAgent, "curl/8.5.0")
        XCTAssertEqual(asked.head.proxyHeaders, ["via"])
        XCTAssertNil(try read([("X-Forwarded-For", "2001:db8::1")]).get().port)
        XCTAssertEqual(problem([("X-Forwarded-For", "not an address")]), .address)
        XCTAssertEqual(problem([("X-Real-Port", "1")]), .address)
        XCTAssertEqual(problem([("X-Forwarded-For", "192.0.2.1"), ("X-Real-Port", "70000")]), .port)
        // The header twice: the nearest proxy's line is the last; the client cannot choose.
        XCTAssertEqual(
            try read([("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-For", "198.51.100.7, 192.0.2.1")]).get().address, IPAddress("192.0.2.1")
        )
        // A dual-stack proxy's IPv4-mapped address is the IPv4 address the packets carry.
        XCTAssertEqual(try read([("X-Forwarded-For", "::ffff:192.0.2.1")]).get().address, IPAddress("192.0.2.1"))
        XCTAssertEqual(try read([("X-Forwarded-For", "2001:db8::ffff:c000:201")]).get().address, IPAddress("2001:db8::ffff:c000:201"))
        // Nothing after a NUL is read past.
        XCTAssertEqual(problem([("X-Forwarded-For", "192.0.2.1\u{0}garbage")]), .address)
        XCTAssertEqual(problem([("X-Forwarded-For", "192.0.2.1,")]), .address)
    }
}
