/// One captured packet: its capture time and the bytes the capture kept, starting at the link
/// header. The bytes belong to the capture loop and are valid only while it hands them over.
public struct Packet {
    public var seconds: Int
    public var microseconds: Int
    public var bytes: UnsafeRawBufferPointer

    public init(seconds: Int, microseconds: Int, bytes: UnsafeRawBufferPointer) {
        self.seconds = seconds
        self.microseconds = microseconds
        self.bytes = bytes
    }
}
