#if canImport(Glibc)
import Glibc
#endif

/// Shannon entropy of a payload's bytes, in bits per byte (0 to 8), over at most `maxBytes`:
/// the cost per packet stays bounded, and sensors that keep 128–256 bytes per packet see the
/// same figure as full captures.
public enum ByteEntropy {
    public static let maxBytes = 256

    /// n·log2(n) for n up to `maxBytes`, so a segment costs one table lookup per distinct byte.
    static let nLogN: [Float] = (0...maxBytes).map { $0 == 0 ? 0 : Float($0) * log2(Float($0)) }

    /// The entropy of the first `maxBytes` bytes and how many bytes it was computed from.
    public static func of(_ bytes: UnsafeRawBufferPointer) -> (bits: Float, bytes: Int) {
        let n = min(bytes.count, maxBytes)
        guard n > 0 else { return (0, 0) }
        var counts = InlineArray<256, UInt16>(repeating: 0)
        for i in 0..<n { counts[Int(bytes[i])] &+= 1 }
        var sum: Float = 0
        for value in 0..<256 where counts[value] > 0 { sum += nLogN[Int(counts[value])] }
        return (max(0, log2(Float(n)) - sum / Float(n)), n)
    }

    /// The highest entropy `n` bytes can have: log2(min(n, 256)). Short payloads cannot reach 8.
    public static func ceiling(_ n: Int) -> Float { n <= 1 ? 0 : log2(Float(min(n, 256))) }
}
