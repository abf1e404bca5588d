import Crypto
import Decode
import Formatting

/// The Community ID flow hash, version 1 (Corelight's published specification), so events join
/// Zeek's and Suricata's records of the same connection: SHA-1 over the seed, the two endpoints
/// in order (the smaller address, or the smaller port at equal addresses, first), the protocol
/// and a zero byte, base64, prefixed `1:`.
public enum CommunityID {
    public static let tcp: UInt8 = 6

    public static func append(
        source: IPAddress, sourcePort: UInt16, destination: IPAddress, destinationPort: UInt16,
        seed: UInt16 = 0, to out: TextBuffer
    ) {
        var sha = Insecure.SHA1()
        let swap = (destination.high, destination.low, destinationPort) < (source.high, source.low, sourcePort)
        let (a, aPort, b, bPort) =
            swap ? (destination, destinationPort, source, sourcePort) : (source, sourcePort, destination, destinationPort)
        withUnsafeBytes(of: seed.bigEndian) { sha.update(bufferPointer: $0) }
        update(&sha, a)
        update(&sha, b)
        withUnsafeBytes(of: (tcp, UInt8(0), aPort.bigEndian, bPort.bigEndian)) {
            sha.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<6]))
        }
        out.append("1:")
        sha.finalize().withUnsafeBytes { appendBase64($0, to: out) }
    }

    /// The address's bytes as on the wire: 4 for IPv4, 16 for IPv6.
    static func update(_ sha: inout Insecure.SHA1, _ address: IPAddress) {
        if address.isV6 {
            withUnsafeBytes(of: (address.high.bigEndian, address.low.bigEndian)) { sha.update(bufferPointer: $0) }
        } else {
            withUnsafeBytes(of: address.v4.bigEndian) { sha.update(bufferPointer: $0) }
        }
    }

    static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    /// Standard base64 with padding, written in place (Foundation's would allocate per event).
    static func appendBase64(_ bytes: UnsafeRawBufferPointer, to out: TextBuffer) {
        let letters = alphabet.utf8Start
        var i = 0
        while i < bytes.count {
            let b0 = bytes[i], b1 = i + 1 < bytes.count ? bytes[i + 1] : 0, b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
            out.append(ascii: Unicode.Scalar(letters[Int(b0 >> 2)]))
            out.append(ascii: Unicode.Scalar(letters[Int((b0 & 0x03) << 4 | b1 >> 4)]))
            out.append(ascii: i + 1 < bytes.count ? Unicode.Scalar(letters[Int((b1 & 0x0F) << 2 | b2 >> 6)]) : "=")
            out.append(ascii: i + 2 < bytes.count ? Unicode.Scalar(letters[Int(b2 & 0x3F)]) : "=")
            i += 3
        }
    }
}
