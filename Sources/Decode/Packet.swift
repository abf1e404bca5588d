/// One captured packet: its capture time and the bytes the capture kept, starting at the link
/// header. The bytes belong to the capture loop and are valid only while it hands them over.
public struct Packet {
    public var seconds: Int
    public var microseconds: Int
    public var bytes: UnsafeRawBufferPointer

    /// Capture times are held to years 0-9999 (a pcapng file may say any 64-bit time), so
    /// that any two differ, and convert to microseconds, without overflow.
    public static let earliest = -62_167_219_200
    public static let latest = 253_402_300_799

    public init(seconds: Int, microseconds: Int, bytes: UnsafeRawBufferPointer) {
        self.seconds = min(max(seconds, Packet.earliest), Packet.latest)
        self.microseconds = min(max(microseconds, 0), 999_999)
        self.bytes = bytes
    }
}
