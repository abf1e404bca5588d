#if canImport(Glibc)
import Glibc
#endif

/// Shannon entropy of a payload's bytes, in bits per byte (0 to 8), over at most `maxBytes`:
/// the cost per packet stays bounded, and sensors that keep 128–256 bytes per packet see the
/// same figure as full captures.
public enum ByteEntropy {
    public static let maxBytes = 256

    /// What one more byte of a value seen `c` times adds to Σ c·log2(c):
    /// (c+1)·log2(c+1) − c·log2(c). The sum then grows as the bytes are counted, with no pass
    /// over the 256 values afterwards (that pass was half of this function's time, perf).
    static let increments: [Float] = (0..<maxBytes).map { c in nLogN(c + 1) - nLogN(c) }
    /// c·log2(c), for a run of equal bytes counted at once.
    static let nLogNs: [Float] = (0...maxBytes).map(nLogN)
    static func nLogN(_ n: Int) -> Float { n == 0 ? 0 : Float(n) * log2(Float(n)) }

    /// The entropy of the first `maxBytes` bytes and how many bytes it was computed from.
    /// Eight equal bytes are counted at once: byte by byte, each waits for the count the one
    /// before stored, which made zero padding and filler 3 to 7 times slower than text (perf).
    public static func of(_ bytes: UnsafeRawBufferPointer) -> (bits: Float, bytes: Int) {
        let n = min(bytes.count, maxBytes)
        guard n > 0 else { return (0, 0) }
        let sum = withUnsafeTemporaryAllocation(of: UInt16.self, capacity: 256) { counts -> Float in
            counts.initialize(repeating: 0)
            return increments.withUnsafeBufferPointer { increments -> Float in
                nLogNs.withUnsafeBufferPointer { nLogNs -> Float in
                    // Two sums, so that each float add waits on the one before the last only.
                    var even: Float = 0
                    var odd: Float = 0
                    var i = 0
                    while i + 8 <= n {
                        let word = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                        let first = Int(truncatingIfNeeded: word & 0xFF)
                        if word == UInt64(first) &* 0x0101_0101_0101_0101 {
                            let c = Int(counts[first])
                            even += nLogNs[c + 8] - nLogNs[c]
                            counts[first] = UInt16(c + 8)
                        } else {
                            var k = i
                            while k < i + 8 {
                                let a = Int(bytes[k])
                                even += increments[Int(counts[a])]
                                counts[a] &+= 1
                                let b = Int(bytes[k + 1])
                                odd += increments[Int(counts[b])]
                                counts[b] &+= 1
                                k += 2
                            }
                        }
                        i += 8
                    }
                    while i < n {
                        let a = Int(bytes[i])
                        even += increments[Int(counts[a])]
                        counts[a] &+= 1
                        i += 1
                    }
                    return even + odd
                }
            }
        }
        return (max(0, log2(Float(n)) - sum / Float(n)), n)
    }

    /// The highest entropy `n` bytes can have: log2(min(n, 256)). Short payloads cannot reach 8.
    public static func ceiling(_ n: Int) -> Float { n <= 1 ? 0 : log2(Float(min(n, 256))) }
}
