import Synchronization
import XCTest

@testable import Capture
@testable import Decode
@testable import Features
@testable import Formatting
@testable import Output

#if canImport(Glibc)
import Glibc
#endif

/// Reads captures through libpcap and the decoder, as the sensor does.
final class CaptureTests: XCTestCase {
    struct Seen: Equatable {
        var index: Int
        var tuple: String
    }

    /// Every SYN (not SYN+ACK) of a file, with its packet index in the file.
    func syns(in path: String) throws -> (syns: [Seen], end: CaptureEnd, packets: Int) {
        let source = try PacketSource.open(file: path)
        var found: [Seen] = []
        var index = 0
        let end = source.run(shouldStop: { false }) { packet in
            defer { index += 1 }
            if case .tcp(let s) = PacketDecoder.decode(packet.bytes, link: source.linkType), s.isSYN, !s.flags.contains(.ack) {
                let text = TextBuffer()
                text.append(ip: s.ip.source); text.append(ascii: " "); text.append(s.sourcePort); text.append(ascii: " ")
                text.append(ip: s.ip.destination); text.append(ascii: " "); text.append(s.destinationPort)
                found.append(Seen(index: index, tuple: text.string))
            }
            return true
        }
        return (found, end, index)
    }

    func labels() throws -> [[String: Any]] {
        try devLabels()
    }

    func tuple(_ label: [String: Any]) -> String {
        "\(label["src_ip"]!) \(label["src_port"]!) \(label["dst_ip"]!) \(label["dst_port"]!)"
    }

    func testDevSynsMatchTheLabelsLineByLine() throws {
        let (found, end, _) = try syns(in: devDataOrSkip("dev_syns.pcap").path)
        XCTAssertEqual(end, .finished)
        let expected = try labels()
        XCTAssertEqual(found.count, 691)
        XCTAssertEqual(found.map(\.tuple), expected.map(tuple))
    }

    func testEveryDevCaptureDecodesAndHoldsItsLabelledSyns() throws {
        let byCapture = Dictionary(grouping: try labels(), by: { $0["capture"] as! String })
        let folder = try devDataOrSkip("captures")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        XCTAssertEqual(files.count, 40)
        for file in files {
            let (found, end, packets) = try syns(in: folder.appendingPathComponent(file).path)
            XCTAssertEqual(end, .finished, file)
            XCTAssertGreaterThan(packets, 0, file)
            let byIndex = Dictionary(uniqueKeysWithValues: found.map { ($0.index, $0.tuple) })
            for label in byCapture[file] ?? [] {
                let index = label["capture_packet_index"] as! Int
                XCTAssertEqual(byIndex[index], tuple(label), "\(file) packet \(index)")
            }
        }
    }

    func testTruncatedCaptureKeepsWhatCameBefore() throws {
        let original = try Data(contentsOf: fixture("linux-paths.pcap"))
        let (all, _, _) = try syns(in: fixture("linux-paths.pcap").path)
        let cut = FileManager.default.temporaryDirectory.appendingPathComponent("synprint-truncated-\(UUID().uuidString).pcap")
        try original.prefix(original.count / 2 + 7).write(to: cut)
        let (found, end, _) = try syns(in: cut.path)
        guard case .truncated(let message) = end else { return XCTFail("expected truncation, got \(end)") }
        XCTAssertTrue(message.contains("truncated"))
        XCTAssertGreaterThan(found.count, 40)
        XCTAssertEqual(found, Array(all.prefix(found.count)))
    }

    func testUnreadableInputsGiveClearErrors() throws {
        let folder = FileManager.default.temporaryDirectory
        let empty = folder.appendingPathComponent("synprint-empty.pcap")
        let garbage = folder.appendingPathComponent("synprint-garbage.pcap")
        try Data().write(to: empty)
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: garbage)
        for path in [empty.path, garbage.path, "/nonexistent/capture.pcap"] {
            XCTAssertThrowsError(try PacketSource.open(file: path)) { error in
                XCTAssertTrue((error as? CaptureError)?.description.hasPrefix(path) == true, "\(error)")
            }
        }
    }

    func testUnsupportedLinkTypeIsNamed() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("synprint-ieee80211.pcap")
        try writePcap([[0, 1, 2]], linkType: 105, to: file)
        XCTAssertThrowsError(try PacketSource.open(file: file.path)) { error in
            XCTAssertTrue("\(error)".contains("unsupported link type IEEE802_11"), "\(error)")
        }
    }

    func testSnaplenCutAndZeroLengthPacketsAreCountedNotFatal() throws {
        let full = PacketBuilder.ethernet(PacketBuilder().ipv4())
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("synprint-cut.pcap")
        try writePcap([[], Array(full.prefix(40)), full], to: file)
        let source = try PacketSource.open(file: file.path)
        var outcomes: [String] = []
        _ = source.run(shouldStop: { false }) { packet in
            outcomes.append("\(PacketDecoder.decode(packet.bytes, link: source.linkType))")
            return true
        }
        XCTAssertEqual(outcomes.count, 3)
        XCTAssertTrue(outcomes[0].contains("truncatedLink"))
        XCTAssertTrue(outcomes[1].contains("snaplenCut"))
        XCTAssertTrue(outcomes[2].hasPrefix("tcp"))
    }

    func testDefaultFilterSelectsSynsOfBothVersionsWithExtensionHeaders() throws {
        var data = PacketBuilder()
        data.flags = 0x18
        let hopByHop: [UInt8] = [0, 0, 1, 4, 0, 0, 0, 0]
        let frames = [
            PacketBuilder.ethernet(PacketBuilder().ipv4()),
            PacketBuilder.ethernet(PacketBuilder().ipv6(), etherType: 0x86DD),
            PacketBuilder.ethernet(PacketBuilder().ipv6(extensions: [(0, hopByHop)]), etherType: 0x86DD),
            PacketBuilder.ethernet(PacketBuilder().ipv4(), vlanTags: [7]),
            PacketBuilder.ethernet(PacketBuilder().ipv4(), vlanTags: [7, 8, 9]),
            PacketBuilder.ethernet(data.ipv4()),
            PacketBuilder.ethernet(data.ipv6(), etherType: 0x86DD),
        ]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("synprint-filter.pcap")
        try writePcap(frames, to: file)
        func count(_ user: String?) throws -> Int {
            let source = try PacketSource.open(file: file.path)
            try source.setFilter(SynFilter.expression(vlanTags: true, user: user))
            var n = 0
            _ = source.run(shouldStop: { false }) { _ in
                n += 1; return true
            }
            return n
        }
        // Behind three tags the decoder decides, as it does when every segment is read; the
        // user's words reach two tags deep.
        XCTAssertEqual(try count(nil), 5)
        XCTAssertEqual(try count("ip6"), 2)
        XCTAssertEqual(try count("ip"), 2)
        XCTAssertThrowsError(try count("port nonsense")) { error in
            XCTAssertTrue((error as? FilterError)?.message.contains("nonsense") == true, "\(error)")
        }
    }

    func testLiveLoopbackSeesIPv4AndIPv6Syns() throws {
        let listener4 = try Listener(family: AF_INET)
        let listener6 = try Listener(family: AF_INET6)
        let source: PacketSource
        do {
            source = try PacketSource.open(interface: "lo", promiscuous: false, snaplen: 256)
        } catch let error as CaptureError where error.description.contains("no permission") {
            throw XCTSkip("no capture privilege (run as root or with cap_net_raw): \(error)")
        }
        try source.setFilter(
            SynFilter.expression(
                vlanTags: false,
                user: "tcp dst port \(listener4.port) or tcp dst port \(listener6.port)"))
        let seen = VersionsSeen()
        let done = expectation(description: "two SYNs")
        let handed = HandedOver(source)
        let thread = Thread {
            let source = handed.value
            _ = source.run(shouldStop: { false }) { packet in
                if case .tcp(let s) = PacketDecoder.decode(packet.bytes, link: source.linkType), s.isSYN, !s.flags.contains(.ack) {
                    seen.insert(s.ip.version)
                }
                return seen.count < 2
            }
            done.fulfill()
        }
        thread.start()
        try listener4.connect()
        try listener6.connect()
        wait(for: [done], timeout: 10)
        XCTAssertEqual(seen.versions, [4, 6])
    }
}

/// A value moved to another thread and used only there.
final class HandedOver<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// IP versions seen by the capture thread, read by the test thread after it ends.
final class VersionsSeen: Sendable {
    private let seen = Mutex(Set<UInt8>())
    func insert(_ version: UInt8) { seen.withLock { _ = $0.insert(version) } }
    var count: Int { seen.withLock { $0.count } }
    var versions: Set<UInt8> { seen.withLock { $0 } }
}

/// A loopback TCP listener on an ephemeral port, and one client connection to it.
final class Listener {
    let family: Int32
    let socketFD: Int32
    private(set) var port: UInt16 = 0
    private var clients: [Int32] = []

    init(family: Int32) throws {
        self.family = family
        socketFD = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        try withUnsafeMutablePointer(to: &storage) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                Listener.loopback(family, port: 0, into: pointer)
                guard
                    bind(
                        socketFD, address,
                        family == AF_INET ? socklen_t(MemoryLayout<sockaddr_in>.size) : socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0,
                    listen(socketFD, 8) == 0, getsockname(socketFD, address, &length) == 0
                else {
                    throw CaptureError("listener: \(String(cString: strerror(errno)))")
                }
            }
            port =
                family == AF_INET
                ? UInt16(bigEndian: UnsafeRawPointer(pointer).load(as: sockaddr_in.self).sin_port)
                : UInt16(bigEndian: UnsafeRawPointer(pointer).load(as: sockaddr_in6.self).sin6_port)
        }
    }

    static func loopback(_ family: Int32, port: UInt16, into pointer: UnsafeMutablePointer<sockaddr_storage>) {
        if family == AF_INET {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            a.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            UnsafeMutableRawPointer(pointer).storeBytes(of: a, as: sockaddr_in.self)
        } else {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            a.sin6_addr = in6addr_loopback
            UnsafeMutableRawPointer(pointer).storeBytes(of: a, as: sockaddr_in6.self)
        }
    }

    func connect() throws {
        let client = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        clients.append(client)
        var storage = sockaddr_storage()
        Listener.loopback(family, port: port, into: &storage)
        let length = family == AF_INET ? socklen_t(MemoryLayout<sockaddr_in>.size) : socklen_t(MemoryLayout<sockaddr_in6>.size)
        let result = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(client, $0, length) }
        }
        guard result == 0 else { throw CaptureError("connect: \(String(cString: strerror(errno)))") }
    }

    deinit {
        for client in clients { close(client) }
        close(socketFD)
    }
}
