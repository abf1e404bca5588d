import Decode
import Features
import Formatting
import Foundation
import Match

/// libFuzzer harness: any bytes as a packet of every link type, through the decoder, the
/// features, their text forms and the matcher with its path model. Nothing may trap or read
/// out of bounds (the address sanitizer watches).
// libFuzzer calls the harness from a single thread.
nonisolated(unsafe) let matcher: Matcher? = (try? Database.load(file: "database/synprint.db.jsonl")).map { Matcher(database: $0) }
let links: [LinkType] = [.ethernet, .linuxCooked, .linuxCooked2, .rawIP, .ipv4, .ipv6, .bsdNull, .bsdLoop]
nonisolated(unsafe) let text = TextBuffer()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    // The first byte picks the link type; the rest is the packet, copied so that reads past it trap.
    let link = links[Int(data[0]) % links.count]
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    bytes.withUnsafeBytes { raw in
        guard case .tcp(let segment) = PacketDecoder.decode(raw, link: link), segment.isSYN else { return }
        let fingerprint = Fingerprint(segment, in: raw)
        text.removeAll()
        fingerprint.writeRawSignature(to: text)
        fingerprint.writeJA4T(to: text)
        _ = matcher?.match(fingerprint)
    }
    return 0
}
