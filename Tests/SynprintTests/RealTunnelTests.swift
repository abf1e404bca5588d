import Foundation
import XCTest

@testable import Decode
@testable import FlowStats
@testable import SynprintKit
@testable import Verdict

/// The detection table on real tunnel software and ordinary clients captured in network
/// namespaces by tools/netns-tunnels.py (docs/FLOWSTATS.md): every tunnel kind flagged by the
/// rule that describes it within 30 s, no ordinary client flagged.
final class RealTunnelTests: XCTestCase {
    /// The rule each tunnel kind is expected to meet.
    static let expectedRules: [String: TunnelFlowRules] = [
        "openvpn_tcp": .openVPN, "ssh_dynamic": .singleFlow, "stunnel": .bareTLS, "shadowsocks": .opaque, "obfs4": .opaque,
        "socks_dante": .proxy, "http_connect_tinyproxy": .proxy,
    ]

    struct Row {
        var clients = 0
        var flagged = 0
        var rules: TunnelFlowRules = []
        var slowest: Double = 0
    }

    /// Per kind of the labels file: clients, clients flagged, the rules met, and the most
    /// seconds from a client's first packet to the end of its first flagged window.
    func table(snaplen: Int? = nil) throws -> [String: Row] {
        let capture = try packets(of: fixture("tunnels.pcap"))
        let labels = try jsonLines(of: fixture("tunnels.labels.jsonl"))
        let cut = capture.packets.map { p in (p.seconds, p.microseconds, snaplen.map { Array(p.bytes.prefix($0)) } ?? p.bytes) }
        let windows = runSensor(cut, link: capture.link, database: nil, judging: false, flowStatistics: true).flowWindows
        XCTAssertGreaterThan(windows.count, labels.count)
        var rows: [String: Row] = [:]
        for label in labels {
            let kind = label["kind"] as! String
            let client = try XCTUnwrap(IPAddress(label["client_ip"] as! String))
            let start = label["start"] as! Double
            var row = rows[kind] ?? Row()
            row.clients += 1
            let flagged = windows.filter { $0.client == client && !$0.rules.isEmpty }.min { $0.last < $1.last }
            if let flagged {
                row.flagged += 1
                row.rules.formUnion(windows.filter { $0.client == client }.reduce(into: TunnelFlowRules()) { $0.formUnion($1.rules) })
                row.slowest = max(row.slowest, Double(flagged.last) / 1e6 - start)
            }
            rows[kind] = row
        }
        return rows
    }

    func testEveryTunnelIsFlaggedAndNoOrdinaryClient() throws {
        let rows = try table()
        XCTAssertEqual(rows.count, 11, "kinds in the labels file")
        for (kind, row) in rows.sorted(by: { $0.key < $1.key }) {
            XCTAssertGreaterThanOrEqual(row.clients, 2, kind)
            if let rule = Self.expectedRules[kind] {
                XCTAssertEqual(row.flagged, row.clients, "\(kind): tunnel clients flagged")
                XCTAssertTrue(row.rules.contains(rule), "\(kind): rules \(row.rules.names)")
                XCTAssertLessThanOrEqual(row.slowest, 30, "\(kind): seconds to the first flag")
            } else {
                XCTAssertEqual(row.flagged, 0, "\(kind): ordinary clients flagged by \(row.rules.names)")
            }
        }
    }

    /// Cut to 256 bytes a packet, as many sensors keep: lengths still come from the IP headers
    /// and every rule but stunnel's holds (its ClientHello is cut before the server name).
    func testASnaplenKeepsEveryRuleButTheCutHello() throws {
        let rows = try table(snaplen: 256)
        for (kind, row) in rows.sorted(by: { $0.key < $1.key }) {
            if kind == "stunnel" {
                XCTAssertFalse(row.rules.contains(.bareTLS), "stunnel: the hello's name lies past 256 bytes")
            } else if let rule = Self.expectedRules[kind] {
                XCTAssertEqual(row.flagged, row.clients, "\(kind) at snaplen 256")
                XCTAssertTrue(row.rules.contains(rule), "\(kind) at snaplen 256: rules \(row.rules.names)")
            } else {
                XCTAssertEqual(row.flagged, 0, "\(kind) at snaplen 256")
            }
        }
    }

    /// A threaded sensor computes the windows' entropy on its output thread: the figures are
    /// the ones computed beside the other statistics, window by window.
    func testEntropyOnTheOutputThreadEqualsEntropyComputedInline() throws {
        let capture = try packets(of: fixture("tunnels.pcap"))
        func windows(threaded: Bool) -> [FlowWindow] {
            runSensor(capture.packets, link: capture.link, database: nil, judging: false, flowStatistics: true, threaded: threaded)
                .flowWindows.sorted { ($0.start, $0.client.low) < ($1.start, $1.client.low) }
        }
        let inline = windows(threaded: false)
        let elsewhere = windows(threaded: true)
        XCTAssertEqual(inline.count, elsewhere.count)
        XCTAssertGreaterThan(inline.map(\.up.entropy.count).reduce(0, +), 1000)
        for (a, b) in zip(inline, elsewhere) {
            for (x, y) in [(a.up.entropy, b.up.entropy), (a.down.entropy, b.down.entropy)] {
                XCTAssertEqual(x.count, y.count)
                XCTAssertEqual(x.bytes, y.bytes)
                XCTAssertEqual(x.min, y.min)
                XCTAssertEqual(x.max, y.max)
                XCTAssertEqual(x.sum, y.sum, accuracy: 1e-3)
            }
        }
    }
}
