import Decode
import Foundation
import XCTest

/// Builds packets byte by byte for tests: link header, IP header, TCP header with options.
struct PacketBuilder {
    var sourcePort: UInt16 = 50000
    var destinationPort: UInt16 = 443
    var ttl: UInt8 = 57
    var dontFragment = true
    var ipID: UInt16 = 0x1234
    var tos: UInt8 = 0
    var flags: UInt8 = 0x02
    var window: UInt16 = 64240
    var sequence: UInt32 = 1000
    var acknowledgment: UInt32 = 0
    var urgentPointer: UInt16 = 0
    var options: [UInt8] = PacketBuilder.linuxOptions
    var payload: [UInt8] = []
    var ipOptions: [UInt8] = []

    static let linuxOptions: [UInt8] = [2, 4, 0x05, 0xB4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]
    static let appleOptions: [UInt8] = [2, 4, 0x05, 0xB4, 1, 3, 3, 6, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 4, 2, 0, 0]
    static let windowsOptions: [UInt8] = [2, 4, 0x05, 0xB4, 1, 3, 3, 8, 1, 1, 4, 2]

    func tcp() -> [UInt8] {
        var opts = options
        while opts.count % 4 != 0 { opts.append(0) }
        let offset = UInt8((20 + opts.count) / 4)
        var bytes: [UInt8] = []
        bytes += be16(sourcePort) + be16(destinationPort) + be32(sequence) + be32(acknowledgment)
        bytes += [offset << 4, flags] + be16(window) + [0, 0] + be16(urgentPointer)
        return bytes + opts + payload
    }

    func ipv4(
        source: [UInt8] = [10, 0, 0, 3], destination: [UInt8] = [10, 0, 0, 1], protocolNumber: UInt8 = 6,
        fragmentOffset: UInt16 = 0, moreFragments: Bool = false, body: [UInt8]? = nil
    ) -> [UInt8] {
        let segment = body ?? tcp()
        let headerLength = 20 + ipOptions.count
        var flagsField = fragmentOffset
        if dontFragment { flagsField |= 0x4000 }
        if moreFragments { flagsField |= 0x2000 }
        var bytes: [UInt8] = [0x40 | UInt8(headerLength / 4), tos] + be16(UInt16(headerLength + segment.count))
        bytes += be16(ipID) + be16(flagsField) + [ttl, protocolNumber, 0, 0] + source + destination
        return bytes + ipOptions + segment
    }

    /// IPv6 with extension headers given as (next-header number, bytes) pairs, in order.
    func ipv6(extensions: [(UInt8, [UInt8])] = [], flowLabel: UInt32 = 0, body: [UInt8]? = nil) -> [UInt8] {
        let segment = body ?? tcp()
        var chain: [UInt8] = []
        let kinds = extensions.map(\.0) + [6]
        for (i, ext) in extensions.enumerated() {
            var header = ext.1
            header[0] = kinds[i + 1]
            chain += header
        }
        let first = UInt32(6) << 28 | UInt32(tos) << 20 | flowLabel
        var bytes = be32(first) + be16(UInt16(chain.count + segment.count)) + [kinds[0], ttl]
        bytes += [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [3]
        bytes += [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
        return bytes + chain + segment
    }

    static func ethernet(_ ip: [UInt8], etherType: UInt16 = 0x0800, vlanTags: [UInt16] = []) -> [UInt8] {
        var bytes: [UInt8] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]
        for (i, tag) in vlanTags.enumerated() { bytes += be16(i == 0 && vlanTags.count > 1 ? 0x88A8 : 0x8100) + be16(tag) }
        return bytes + be16(etherType) + ip
    }
}

func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

/// Writes a classic pcap file with the given link type and frames.
func writePcap(_ frames: [[UInt8]], linkType: UInt32 = 1, to url: URL) throws {
    var data = Data()
    func le32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    func le16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    le32(0xA1B2C3D4); le16(2); le16(4); le32(0); le32(0); le32(65535); le32(linkType)
    for (i, frame) in frames.enumerated() {
        le32(1_700_000_000 + UInt32(i)); le32(0); le32(UInt32(frame.count)); le32(UInt32(frame.count))
        data.append(contentsOf: frame)
    }
    try data.write(to: url)
}

/// A file of the shared development data: `$SYNPRINT_DEV_DATA`, else `shared/data/dev` beside
/// the checkout. The captures are not the project's to copy, so a clone without them skips the
/// tests that read them, saying where it looked; `SYNPRINT_REQUIRE_DEV_DATA=1` makes that a failure.
func devDataOrSkip(_ name: String) throws -> URL {
    do {
        return try devData(name)
    } catch let missing as MissingDevData where ProcessInfo.processInfo.environment["SYNPRINT_REQUIRE_DEV_DATA"] != "1" {
        throw XCTSkip(missing.description)
    }
}

/// The labels of the development SYNs, with the correction tools/dev_labels.py makes: Android's
/// connectivity check probes under a desktop Chrome's User-Agent, which the shipped file labels Linux.
func devLabels() throws -> [[String: Any]] {
    let text = try String(contentsOf: devDataOrSkip("dev_labels.jsonl"), encoding: .utf8)
    let probe = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/60.0.3112.32 Safari/537.36"
    return try text.split(separator: "\n").map { line in
        var label = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        if (label["label_source"] as? String)?.hasPrefix("http_user_agent") == true, label["user_agent"] as? String == probe {
            label["os_class"] = "Android"
        }
        return label
    }
}

/// A file of the shared development data; missing data throws with the path it looked for.
func devData(_ name: String) throws -> URL {
    let folder =
        ProcessInfo.processInfo.environment["SYNPRINT_DEV_DATA"].map { URL(fileURLWithPath: $0) }
        ?? repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/data/dev")
    let url = folder.appendingPathComponent(name)
    guard FileManager.default.fileExists(atPath: url.path) else {
        throw MissingDevData(
            description:
                "development data not present: \(url.path) is missing; clone the repository beside shared/ or set SYNPRINT_DEV_DATA to the data/dev folder"
        )
    }
    return url
}

struct MissingDevData: Error, CustomStringConvertible {
    let description: String
}

let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The TCP segment of a test packet; a packet that does not decode fails the test.
func decodedSegment(_ raw: UnsafeRawBufferPointer, link: LinkType = .rawIP) throws -> TCPSegment {
    let outcome = PacketDecoder.decode(raw, link: link)
    guard case .tcp(let segment) = outcome else { throw NotDecoded(description: "test packet did not decode: \(outcome)") }
    return segment
}

struct NotDecoded: Error, CustomStringConvertible {
    let description: String
}

/// A seeded generator (SplitMix64), so that random inputs repeat from run to run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Writes a pcapng file of Ethernet frames, each with its own 64-bit timestamp counted in
/// seconds (`if_tsresol` 0): pcapng, unlike classic pcap, can say any time at all.
func writePcapng(_ frames: [(seconds: Int64, bytes: [UInt8])], to url: URL) throws {
    var data = Data()
    func le32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    func le16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    func block(_ type: UInt32, _ body: [UInt8]) {
        let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
        le32(type); le32(UInt32(padded.count + 12)); data.append(contentsOf: padded); le32(UInt32(padded.count + 12))
    }
    func le(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    block(0x0A0D_0D0A, le(0x1A2B_3C4D) + [1, 0, 0, 0] + [UInt8](repeating: 0xFF, count: 8))
    // Link type 1 (Ethernet), snap length, then if_tsresol = 0 (units of 10^0 s) and the end of options.
    block(1, [1, 0, 0, 0] + le(65535) + [9, 0, 1, 0, 0, 0, 0, 0] + [0, 0, 0, 0])
    for frame in frames {
        let time = UInt64(bitPattern: frame.seconds)
        block(
            6,
            le(0) + le(UInt32(time >> 32)) + le(UInt32(time & 0xFFFF_FFFF)) + le(UInt32(frame.bytes.count)) + le(UInt32(frame.bytes.count))
                + frame.bytes)
    }
    try data.write(to: url)
}
