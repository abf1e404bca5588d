import Foundation
import XCTest

@testable import Decode
@testable import FlowStats
@testable import Learn
@testable import Match
@testable import SynprintKit
@testable import Verdict

/// ClientHellos as a witness of the client's TLS library: real clients' hellos
/// (tools/netns-tls.py) read from followed connections and named by the table of TLS stacks,
/// which must also carry over to versions it was not written from.
final class TLSTests: XCTestCase {
    /// The family each client of the fixture's labels belongs to.
    static let families: [String: TLSFamily] = [
        "chromium": .chromium, "firefox": .firefox, "curl": .openSSL, "openssl": .openSSL, "wget": .gnuTLS, "gnutls": .gnuTLS,
        "python": .python, "node": .node, "java": .java, "go": .go,
    ]

    /// The fixture's labels as client address → kind.
    func kinds() throws -> [IPAddress: String] {
        var kinds: [IPAddress: String] = [:]
        for label in try jsonLines(of: fixture("tls-clients.labels.jsonl")) {
            let address = try XCTUnwrap(IPAddress(try XCTUnwrap(label["client_ip"] as? String)))
            kinds[address] = try XCTUnwrap(label["kind"] as? String)
        }
        return kinds
    }

    func fixtureHellos() throws -> [TLSObservation] {
        let capture = try packets(of: fixture("tls-clients.pcap"))
        return runSensor(
            capture.packets, link: capture.link, database: try shippedDatabase(), stacks: try shippedTLSStacks(), judging: true
        ).hellos
    }

    /// Every connection of every real client gives one `tls` event, read whole (the browsers'
    /// over two segments), and lands in its client's family.
    func testRealClientsLandInTheirFamilies() throws {
        let kinds = try kinds()
        let hellos = try fixtureHellos()
        let labels = try jsonLines(of: fixture("tls-clients.labels.jsonl"))
        XCTAssertEqual(hellos.count, labels.reduce(0) { $0 + ($1["connections"] as? Int ?? 0) })
        for hello in hellos {
            let kind = try XCTUnwrap(kinds[hello.syn.fingerprint.segment.ip.source])
            XCTAssertTrue(hello.hello.complete, kind)
            XCTAssertEqual(hello.hello.serverName, "tls.synprint.test", kind)
            XCTAssertEqual(hello.client?.family, TLSTests.families[kind], kind)
            XCTAssertGreaterThan(hello.client?.confidence ?? 0, 0.5, kind)
        }
        XCTAssertEqual(Set(hellos.compactMap { kinds[$0.syn.fingerprint.segment.ip.source] }), Set(TLSTests.families.keys))
    }

    /// With `--http` and `--flow-stats` together, each ClientHello is read once: the flow
    /// statistics' reading goes to the connection tracker. The `tls` events equal those of the
    /// tracker alone, and the flow windows (their server names, ALPN and JA4 among them) those
    /// of the flow statistics alone, on the real clients (the browsers' hellos span two segments)
    /// and on a development capture of Android apps, threaded as the sensor runs.
    func testAClientHelloReadOnceServesBothReaders() throws {
        for capture in [
            try packets(of: fixture("tls-clients.pcap")), try packets(of: devDataOrSkip("captures/cisco__mercury__surfshark.pcap")),
        ] {
            let database = try shippedDatabase(), stacks = try shippedTLSStacks()
            func run(judging: Bool, flowStatistics: Bool) -> EventCollector {
                runSensor(
                    capture.packets, link: capture.link, database: database, stacks: stacks, judging: judging,
                    flowStatistics: flowStatistics, threaded: true)
            }
            let both = run(judging: true, flowStatistics: true)
            let tracker = run(judging: true, flowStatistics: false)
            let windows = run(judging: false, flowStatistics: true)
            XCTAssertFalse(both.hellos.isEmpty)
            XCTAssertEqual(both.hellos.map(\.hello), tracker.hellos.map(\.hello))
            XCTAssertEqual(both.hellos.map(\.client), tracker.hellos.map(\.client))
            XCTAssertEqual(both.flowWindows.count, windows.flowWindows.count)
            XCTAssertEqual(both.flowWindows.map(\.ja4), windows.flowWindows.map(\.ja4))
            XCTAssertEqual(both.flowWindows.map(\.serverName), windows.flowWindows.map(\.serverName))
            XCTAssertEqual(both.flowWindows.map(\.alpn), windows.flowWindows.map(\.alpn))
            XCTAssertGreaterThan(both.flowWindows.compactMap(\.ja4).count, 0)
        }
    }

    /// A version of a library the table was not written from: each stack's own hello with one
    /// extension more and its last suite gone (libraries drop legacy suites from the end) still
    /// lands in its family, less sure.
    func testAStackOneVersionOnStillLandsInItsFamily() throws {
        let table = try shippedTLSStacks()
        for stack in table.stacks {
            let exact = table.classify(
                ciphers: stack.preference, extensions: Array(stack.extensions), groups: Array(stack.groups), grease: stack.grease,
                protocols: stack.alpn)
            let moved = table.classify(
                ciphers: Array(stack.preference.dropLast()), extensions: Array(stack.extensions) + [0x001C], groups: Array(stack.groups),
                grease: stack.grease, protocols: stack.alpn)
            XCTAssertEqual(exact.family, stack.family, stack.id)
            XCTAssertEqual(moved.family, stack.family, stack.id)
            XCTAssertLessThan(moved.confidence, exact.confidence, stack.id)
        }
    }

    /// With a client's own stack left out of the table, the library is still named (wget by
    /// gnutls-cli's stack and the reverse; curl and s_client by the other OpenSSL programs), but
    /// not which program on OpenSSL it is: curl's hellos are then called Python's.
    func testLeavingAClientsOwnStackOutOfTheTable() throws {
        let table = try shippedTLSStacks()
        let kinds = try kinds()
        let own = [
            "wget": "gnutls-3.7-wget", "gnutls": "gnutls-3.7", "curl": "curl-openssl-3", "openssl": "openssl-3-s-client",
        ]
        for hello in try fixtureHellos() {
            guard let kind = kinds[hello.syn.fingerprint.segment.ip.source], let id = own[kind] else { continue }
            let without = TLSStacks(stacks: table.stacks.filter { $0.id != id })
            let named = try XCTUnwrap(without.classify(hello.hello), kind)
            XCTAssertEqual(named.family.library, TLSTests.families[kind]?.library, kind)
            if kind == "wget" || kind == "gnutls" { XCTAssertEqual(named.family, .gnuTLS, kind) }
        }
    }

    /// Chrome of FoxIO's published JA4 example, versions before the table's Chromium (no
    /// post-quantum group, ALPS by its old code point): still Chromium.
    func testChromeOfThePublishedJA4ExampleIsChromium() throws {
        func empty(_ kind: UInt16) -> [UInt8] { be16(kind) + be16(0) }
        let ciphers: [UInt16] = [
            0x1A1A, 0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035,
        ]
        let extensions: [[UInt8]] = [
            empty(0x2A2A), FlowStatsTests.serverName("example.test"), empty(0x0017), empty(0xFF01), FlowStatsTests.list(0x000A, [0x001D]),
            FlowStatsTests.list(0x000B, [0], lengthBytes: 1), empty(0x0023), FlowStatsTests.alpn("h2"),
            be16(0x0005) + be16(5) + [1, 0, 0, 0, 0],
            FlowStatsTests.list(0x000D, [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]), empty(0x0012),
            FlowStatsTests.list(0x0033, []), FlowStatsTests.list(0x002D, [0x0100], lengthBytes: 1),
            FlowStatsTests.list(0x002B, [0x3A3A, 0x0304, 0x0303], lengthBytes: 1), FlowStatsTests.list(0x001B, [0x0002]), empty(0x4469),
            empty(0x0015), empty(0x5A5A),
        ]
        let bytes = FlowStatsTests.clientHello(ciphers: ciphers, extensions: extensions)
        let hello = bytes.withUnsafeBytes { ClientHello($0) }
        XCTAssertEqual(hello.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1")
        XCTAssertTrue(hello.grease)
        XCTAssertEqual(hello.versions, [0x0304, 0x0303])
        XCTAssertEqual(try shippedTLSStacks().classify(hello)?.family, .chromium)
    }

    /// A hello cut by the snaplen gives no event (its structure is not all there), counted; a
    /// table file with a mistake names its line and field.
    func testACutHelloAndABadTableLine() throws {
        let hello = FlowStatsTests.clientHello()
        let c = FlowStatsTests.opening(hello, segments: [0..<hello.count], kept: 20)
        let collector = EventCollector()
        let sensor = Sensor(
            settings: Settings(), database: try shippedDatabase(), stacks: try shippedTLSStacks(), judging: true, threaded: false,
            handler: collector)
        ConnectionTests.replay([c], into: sensor)
        XCTAssertTrue(collector.hellos.isEmpty)
        sensor.publishStatus()
        XCTAssertEqual(sensor.captureStatus.tracker?.snaplenCut, 1)
        let bad = try temporaryFolder().appendingPathComponent("tls.jsonl")
        try "{\"synprint_tls\": 1}\n{\"id\": \"x\", \"family\": \"Netscape\"}\n".write(to: bad, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TLSStacks.load(file: bad.path)) { error in
            XCTAssertTrue(
                "\(error)".hasSuffix(
                    "tls.jsonl:2: field 'family': one of "
                        + "Chromium, Firefox, Safari, curl/OpenSSL, GnuTLS, Python, Node, Java, Go, Schannel, OkHttp"), "\(error)")
        }
        // Types are JSON's own: a 1 is not true, a true not 1, and a code has no sign.
        let good =
            #"{"id": "x", "family": "Go", "name": "Go", "grease": false, "ciphers": ["1301"], "extensions": ["0000"], "groups": ["001d"], "alpn": [], "source": "test"}"#
        let mistakes = [
            ("{\"synprint_tls\": true}\n" + good, "tls.jsonl:1: the first object must be the header"),
            ("{\"synprint_tls\": 1}\n" + good.replacingOccurrences(of: "false", with: "1"), "tls.jsonl:2: field 'grease': true or false"),
            (
                "{\"synprint_tls\": 1}\n" + good.replacingOccurrences(of: "1301", with: "+fff"),
                "field 'ciphers': \"+fff\" is not 4 hex digits"
            ),
            (
                "{\"synprint_tls\": 1}\n" + good.replacingOccurrences(of: "001d", with: "-000"),
                "field 'groups': \"-000\" is not 4 hex digits"
            ),
            ("{\"synprint_tls\": 1}\n" + good.replacingOccurrences(of: "[]", with: "[2]"), "field 'alpn': a list of protocol names"),
        ]
        for (text, message) in mistakes {
            try (text + "\n").write(to: bad, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try TLSStacks.load(file: bad.path)) { XCTAssertTrue("\($0)".contains(message), "\($0)") }
        }
        try ("{\"synprint_tls\": 1}\n" + good + "\n").write(to: bad, atomically: true, encoding: .utf8)
        XCTAssertEqual(try TLSStacks.load(file: bad.path).stacks.first?.groups, [0x1d])
    }

    /// The TLS library a User-Agent implies.
    func testUserAgentsClaimTheirTLSLibrary() {
        let claims: [(String, TLSFamily?)] = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36", .chromium),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36 Edg/130.0",
                .chromium
            ),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", .firefox),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", .safari),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0 Mobile/15E148 Safari/604.1",
                .safari
            ),
            ("python-requests/2.31.0", .python), ("Go-http-client/2.0", .go), ("curl/8.5.0", .openSSL), ("okhttp/4.12.0", .okHttp),
            ("Java/17.0.15", .java), ("Googlebot/2.1 (+http://www.google.com/bot.html)", nil), ("SomethingElse/1.0", nil),
            ("Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko", .schannel),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19041",
                .schannel
            ),
            ("Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.1682", .schannel),
        ]
        for (userAgent, family) in claims { XCTAssertEqual(ClaimedTLS.family(userAgent: userAgent), family, userAgent) }
    }

    /// A web application's check of an HTTPS request: the connection's ClientHello against the
    /// User-Agent it saw. Go's hello under Chrome's name is `tls_mismatch`; Chromium's hello under
    /// Chrome's, or Python's under curl's (both OpenSSL), is not.
    func testChecksWeighTheConnectionsClientHello() throws {
        let (collector, sensor) = try judgedRun(fixture("tls-clients.pcap"))
        let judge = try XCTUnwrap(sensor.judge)
        let kinds = try kinds()
        func check(_ kind: String, userAgent: String) throws -> Verdict {
            let hello = try XCTUnwrap(collector.hellos.last { kinds[$0.syn.fingerprint.segment.ip.source] == kind }, kind)
            let segment = hello.syn.fingerprint.segment
            var head = HTTPRequestHead(method: "GET")
            head.userAgent = userAgent
            let checked = try XCTUnwrap(judge.check(address: segment.ip.source, port: segment.sourcePort, request: head, at: hello.seconds))
            XCTAssertEqual(checked.verdict.tls?.family, TLSTests.families[kind], kind)
            return checked.verdict
        }
        let chromeOnLinux = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
        let go = try check("go", userAgent: chromeOnLinux)
        XCTAssertEqual(go.reasons, [.tlsMismatch])
        XCTAssertTrue(go.flagged)
        XCTAssertEqual(try check("chromium", userAgent: chromeOnLinux).reasons, [])
        XCTAssertEqual(try check("python", userAgent: "curl/7.88.1").reasons, [])
        XCTAssertEqual(try check("firefox", userAgent: chromeOnLinux).reasons, [.tlsMismatch])
    }

    /// A development capture through a judging sensor with the shipped tables.
    func runDevCapture(_ name: String) throws -> (EventCollector, Sensor) { try judgedRun(devDataOrSkip("captures/" + name)) }

    /// A capture through a judging sensor with the shipped tables, on the caller's thread.
    func judgedRun(_ file: URL) throws -> (EventCollector, Sensor) {
        let capture = try packets(of: file)
        let collector = EventCollector()
        let sensor = Sensor(
            settings: Settings(), database: try shippedDatabase(), stacks: try shippedTLSStacks(), judging: true, threaded: false,
            handler: collector)
        feed(capture, to: sensor)
        sensor.finish()
        return (collector, sensor)
    }

    /// A check of a hello's connection under a User-Agent: its reasons.
    func reasons(_ hello: TLSObservation, _ sensor: Sensor, userAgent: String) throws -> [VerdictReason] {
        var head = HTTPRequestHead(method: "GET")
        head.userAgent = userAgent
        let segment = hello.syn.fingerprint.segment
        let judge = try XCTUnwrap(sensor.judge)
        return try XCTUnwrap(judge.check(address: segment.ip.source, port: segment.sourcePort, request: head, at: hello.seconds)).verdict
            .reasons
    }

    static let chromeOnWindows =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"

    /// An Android app's OkHttp, from a real phone of the development captures (the Surfshark
    /// app): its hellos have the JA4 of the published OkHttp 4 profile the stack comes from, and
    /// are named OkHttp surely, so a check under `okhttp/` is clean and one under Chrome's name
    /// is `tls_mismatch`. Every hello named OkHttp there comes from an Android stack.
    func testAndroidAppHellosAreOkHttp() throws {
        let (collector, sensor) = try runDevCapture("cisco__mercury__surfshark.pcap")
        let okHttp = collector.hellos.filter { $0.hello.ja4 == "t13d1513h2_8daaf6152771_eca864cca44a" }
        XCTAssertEqual(okHttp.count, 22)
        for hello in okHttp {
            XCTAssertEqual(hello.client?.family, .okHttp)
            XCTAssertGreaterThan(hello.client?.libraryConfidence ?? 0, 0.9)
        }
        for hello in collector.hellos where hello.client?.family == .okHttp {
            XCTAssertEqual(hello.syn.classification?.osClass, .android, hello.hello.ja4 ?? "")
        }
        let hello = try XCTUnwrap(okHttp.last)
        XCTAssertEqual(try reasons(hello, sensor, userAgent: "okhttp/4.12.0"), [])
        XCTAssertEqual(try reasons(hello, sensor, userAgent: TLSTests.chromeOnWindows), [.osMismatch, .tlsMismatch])
    }

    /// Windows 10's Schannel, from a real Windows host of the development captures (WinINet's
    /// hellos, to a bare address): named Schannel surely, so a check under Chrome's name is
    /// `tls_mismatch` and one under Internet Explorer's is not. Android 10's platform hellos offer
    /// the same common TLS 1.2 sets in BoringSSL's order; the suites' order keeps them from
    /// being taken surely for Schannel.
    func testWindowsSchannelHellosAndAndroidsLookalikes() throws {
        let run = runDevCapture
        let (windows, sensor) = try run("ntop__nDPI__emotet.pcap")
        let schannel = windows.hellos.filter { $0.hello.ja4?.hasPrefix("t12i190600_d83cc789557e") == true }
        XCTAssertEqual(schannel.count, 2)
        for hello in schannel {
            XCTAssertEqual(hello.client?.family, .schannel)
            XCTAssertGreaterThan(hello.client?.libraryConfidence ?? 0, 0.9)
            XCTAssertEqual(hello.syn.classification?.osClass, .windows)
        }
        let hello = try XCTUnwrap(schannel.last)
        XCTAssertEqual(try reasons(hello, sensor, userAgent: TLSTests.chromeOnWindows), [.tlsMismatch])
        XCTAssertEqual(try reasons(hello, sensor, userAgent: "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko"), [])
        let android = try run("ntop__nDPI__googledns_android10.pcap").0.hellos
        XCTAssertGreaterThan(android.count, 4)
        for hello in android where hello.client?.family == .schannel {
            XCTAssertLessThan(hello.client?.libraryConfidence ?? 1, 0.8, hello.hello.ja4 ?? "")
        }
    }

    /// A library that belongs to one OS family over a TCP stack surely of another.
    func testATLSLibraryOfAnotherOSThanTheStack() {
        let rules = VerdictRules()
        var linux = Classification.unmatched
        linux.osClass = .linux
        linux.family = .linuxLike
        linux.confidence = 0.95
        linux.familyConfidence = 1
        let schannel = TLSClient(family: .schannel, name: "Windows", confidence: 0.95, libraryConfidence: 0.95)
        let verdict = rules.verdict(
            claimed: nil, classification: linux, path: nil, proxyHeaders: false, ipSharing: false, tls: schannel)
        XCTAssertEqual(verdict.reasons, [.tlsOSMismatch])
        var windows = linux
        windows.osClass = .windows
        windows.family = .windows
        XCTAssertEqual(
            rules.verdict(claimed: nil, classification: windows, path: nil, proxyHeaders: false, ipSharing: false, tls: schannel).reasons,
            [])
        let unsure = TLSClient(family: .schannel, name: "Windows", confidence: 0.5, libraryConfidence: 0.5)
        XCTAssertEqual(
            rules.verdict(claimed: nil, classification: linux, path: nil, proxyHeaders: false, ipSharing: false, tls: unsure).reasons, [])
    }

    /// `--tls` reads ClientHellos only: the real clients' tls events, and no http event from the
    /// plain-HTTP sample, whose requests `--http` judges.
    func testTLSAloneReadsClientHellosAndNoRequests() throws {
        let folder = try temporaryFolder()
        func events(_ capture: String, _ option: String) throws -> [[String: Any]] {
            let output = folder.appendingPathComponent("\(option)-\(URL(fileURLWithPath: capture).lastPathComponent).json")
            let run = try runSynprint(["-r", capture, option, "--json", "-o", output.path])
            XCTAssertEqual(run.status, 0, run.stderr)
            return try jsonLines(of: output)
        }
        let fixtureHellos = try events(fixture("tls-clients.pcap").path, "--tls").filter { $0["type"] as? String == "tls" }
        XCTAssertEqual(fixtureHellos.count, 31)
        let sample = repositoryRoot.appendingPathComponent("tools/samples/verdicts.pcap").path
        XCTAssertTrue(try events(sample, "--tls").allSatisfy { $0["type"] as? String != "http" })
        XCTAssertFalse(try events(sample, "--http").filter { $0["type"] as? String == "http" }.isEmpty)
    }

    /// Published ClientHellos of browsers the table was not written from
    /// (Fixtures/published-hellos.jsonl: Chrome 98–120 and Edge 98–120 on Windows, Linux,
    /// macOS and Android, Firefox 91–120, Safari 15.3–17.2), each in its family. The table's
    /// Safari stack comes from Safari 17.0 on macOS, which is left out here.
    func testPublishedBrowserHellosOfOtherVersionsLandInTheirFamilies() throws {
        let table = try shippedTLSStacks()
        let expected: [String: TLSFamily] = ["chrome": .chromium, "edge": .chromium, "firefox": .firefox, "safari": .safari]
        var checked = 0
        for hello in try jsonLines(of: fixture("published-hellos.jsonl")) {
            let file = try XCTUnwrap(hello["file"] as? String)
            guard file != "safari_17.0_macOS.yaml" else { continue }
            func codes(_ key: String) throws -> [UInt16] {
                try XCTUnwrap(hello[key] as? [String], file).map { try XCTUnwrap(UInt16($0, radix: 16), file) }
            }
            let client = table.classify(
                ciphers: try codes("ciphers"), extensions: try codes("extensions"), groups: try codes("groups"),
                grease: try XCTUnwrap(hello["grease"] as? Bool), protocols: try XCTUnwrap(hello["alpn"] as? [String]))
            XCTAssertEqual(client.family, expected[try XCTUnwrap(hello["browser"] as? String)], "\(file): \(client)")
            checked += 1
        }
        XCTAssertEqual(checked, 33)
    }

    /// Learning stacks (`db build --tls`): the real clients' hellos, labelled by what their
    /// addresses' User-Agents claim, give back the shipped stacks' structure; an address whose
    /// User-Agents claim two libraries labels nothing. The learned lines load as a table.
    /// `--learn-tls` on a sensor without a store: the checks of the real clients' connections
    /// write their hellos labelled by the checks' User-Agents, and `db build --learned-tls`
    /// gets the shipped stacks' structure back from them. A check whose User-Agent names no
    /// library, or of a connection without a hello, writes nothing and is counted.
    func testLearnTLSRecordsCheckedHellosThatBuildLearnsFrom() throws {
        let folder = try temporaryFolder()
        let recorded = folder.appendingPathComponent("hellos.jsonl")
        let hellos = try HelloLog(path: recorded.path)
        let collector = EventCollector()
        let sensor = Sensor(
            settings: Settings(), database: try shippedDatabase(), stacks: try shippedTLSStacks(), judging: true, threaded: false,
            handler: EventFanOut([collector, hellos], alerts: nil))
        SynprintTests.feed(try packets(of: fixture("tls-clients.pcap")), to: sensor)
        sensor.finish()
        let checks = try checkRealTLSClients(collector.hellos, judge: try XCTUnwrap(sensor.judge)) { hellos.record($0) }
        XCTAssertEqual(checks, 13)
        XCTAssertTrue(hellos.summary.contains("learn-tls: 10 checked ClientHellos recorded"), hellos.summary)
        XCTAssertTrue(hellos.summary.contains("User-Agent \(checks - 10), without a held hello 0"), hellos.summary)
        // The file is in the stacks table's format, one line per check.
        XCTAssertEqual(try TLSStacks.load(file: recorded.path).stacks.count, 10)
        let learned = folder.appendingPathComponent("tls.jsonl")
        let run = try runSynprint([
            "db", "build", "--learned-tls", recorded.path, "--tls", learned.path, "--min-count", "2", "-o",
            folder.appendingPathComponent("db.jsonl").path,
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("10 by their checks' User-Agents; 3 stacks written"), run.stderr)
        try assertLearnedTheCheckedStacks(learned)
        // The file given twice: each check counts once.
        let twice = try runSynprint([
            "db", "build", "--learned-tls", recorded.path, "--learned-tls", recorded.path, "--tls", learned.path, "--min-count", "2",
            "-o", folder.appendingPathComponent("db.jsonl").path,
        ])
        XCTAssertTrue(twice.stderr.contains("10 checked hellos read before (the same id) counted once"), twice.stderr)
        XCTAssertTrue(twice.stderr.contains("10 by their checks' User-Agents; 3 stacks written"), twice.stderr)
        // A bad file stops the build before anything is written.
        let bad = folder.appendingPathComponent("bad.jsonl")
        try "{\"synprint_tls\": 1}\n{\"id\": \"x\"}\n".write(to: bad, atomically: true, encoding: .utf8)
        let refused = try runSynprint([
            "db", "build", "--learned-tls", bad.path, "--tls", folder.appendingPathComponent("t").path, "-o",
            folder.appendingPathComponent("d").path,
        ])
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("bad.jsonl:2: field 'family'"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("d").path))
        let alone = try runSynprint(["db", "build", "--learned-tls", recorded.path, "-o", folder.appendingPathComponent("x").path])
        XCTAssertEqual(alone.status, 64)
        XCTAssertTrue(alone.stderr.contains("--learned-tls needs --tls FILE"), alone.stderr)
        let noAPI = try runSynprint(["-r", fixture("tls-clients.pcap").path, "--learn-tls", recorded.path])
        XCTAssertEqual(noAPI.status, 64)
        XCTAssertTrue(noAPI.stderr.contains("--learn-tls records the connections the API checks"), noAPI.stderr)
    }

    /// The shipped table saved on Windows (CRLF line ends) loads as the same table.
    func testTableSavedOnWindowsLoads() throws {
        let shipped = try String(contentsOf: repositoryRoot.appendingPathComponent("database/tls.jsonl"), encoding: .utf8)
        let file = try temporaryFolder().appendingPathComponent("tls.jsonl")
        try shipped.replacingOccurrences(of: "\n", with: "\r\n").write(to: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try TLSStacks.load(file: file.path).stacks.map(\.id), try shippedTLSStacks().stacks.map(\.id))
        let run = try runSynprint(["db", "validate", file.path])
        XCTAssertEqual(run.status, 0, run.stderr)
    }

    /// Learned stacks that differ only in how their ALPN names split (`h2`, `http/1.1` against
    /// `h2http/1.1`) get ids of their own, and the table loads.
    func testLearnedStacksOfAlikeStructuresHaveIdsOfTheirOwn() throws {
        let learner = TLSLearner()
        for alpn in [["h2", "http/1.1"], ["h2http/1.1"], ["h", "2"], ["h2"]] {
            let offer = TLSOffer(ciphers: [0x1301, 0x1302], extensions: [0, 10, 16], groups: [29], grease: false, alpn: alpn)
            for _ in 0..<2 { learner.observe(checked: offer, as: .go) }
        }
        // Hellos without groups (checked, or from a labelled address) make no stack: the table
        // would not load.
        let bare = TLSOffer(ciphers: [0x1301], extensions: [0, 16], groups: [], grease: false, alpn: ["h2"])
        for _ in 0..<2 { learner.observe(checked: bare, as: .go) }
        let address = IPAddress(v4: 0x0A00_0009)
        let groupless = FlowStatsTests.clientHello().withUnsafeBytes { ClientHello($0) }
        XCTAssertTrue(groupless.complete)
        XCTAssertTrue(groupless.groups.isEmpty)
        for _ in 0..<3 { learner.observe(groupless, from: address) }
        learner.observe(userAgent: "Go-http-client/1.1", from: address)
        let learned = learner.stacks(minCount: 2)
        XCTAssertEqual(learned.count, 4)
        XCTAssertEqual(Set(learned.map(\.stack.id)).count, 4, "\(learned.map(\.stack.id))")
        let file = try temporaryFolder().appendingPathComponent("learned-tls.jsonl")
        let lines = ["{\"synprint_tls\": 1}"] + learned.map { TLSStacks.line($0.stack, source: "test") }
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try TLSStacks.load(file: file.path).stacks.count, 4)
    }

    func testLearnedStacksFromLabelledHellos() throws {
        let kinds = try kinds()
        let learner = TLSLearner()
        for hello in try fixtureHellos() { learner.observe(hello.hello, from: hello.syn.fingerprint.segment.ip.source) }
        let claims = [
            ("go", "Go-http-client/1.1"),
            ("chromium", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0"),
            ("python", "python-requests/2.31.0"), ("curl", "curl/7.88.1"), ("curl", "python-requests/2.31.0"),
        ]
        for (kind, userAgent) in claims {
            let address = try XCTUnwrap(kinds.first { $0.value == kind }?.key)
            learner.observe(userAgent: userAgent, from: address)
        }
        let learned = learner.stacks(minCount: 2)
        XCTAssertEqual(Set(learned.map(\.stack.family)), [.go, .chromium, .python])
        let shipped = try shippedTLSStacks()
        for (stack, hellos, addresses) in learned {
            let own = try XCTUnwrap(shipped.stacks.first { $0.family == stack.family })
            XCTAssertEqual(stack.ciphers, own.ciphers, stack.id)
            XCTAssertEqual(stack.extensions, own.extensions, stack.id)
            XCTAssertEqual(stack.groups, own.groups, stack.id)
            XCTAssertEqual(addresses, 1)
            XCTAssertEqual(hellos, stack.family == .chromium ? 4 : 3, stack.id)
        }
        let file = try temporaryFolder().appendingPathComponent("learned-tls.jsonl")
        let lines = ["{\"synprint_tls\": 1}"] + learned.map { TLSStacks.line($0.stack, source: "test") }
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        let loaded = try TLSStacks.load(file: file.path)
        XCTAssertEqual(loaded.stacks.map(\.id), learned.map(\.stack.id))
        // The command writes the file (no plain-HTTP User-Agents in the fixture: no stack).
        let output = try temporaryFolder()
        let run = try runSynprint([
            "db", "build", "-r", fixture("tls-clients.pcap").path, "--tls", output.appendingPathComponent("tls.jsonl").path, "-o",
            output.appendingPathComponent("db.jsonl").path,
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(
            run.stderr.contains("TLS: 0 ClientHellos from 0 addresses labelled by their User-Agents, 0 by their checks' User-Agents"),
            run.stderr)
        XCTAssertEqual(try TLSStacks.load(file: output.appendingPathComponent("tls.jsonl").path).stacks.count, 0)
    }
}
