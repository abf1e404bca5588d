#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address as two integers: hashable and copyable without allocation.
/// IPv4 addresses live in the low 32 bits of `low`.
public struct IPAddress: Hashable, Sendable {
    public var high: UInt64
    public var low: UInt64
    public var isV6: Bool

    public init(v4: UInt32) {
        high = 0
        low = UInt64(v4)
        isV6 = false
    }

    public init(v6High: UInt64, v6Low: UInt64) {
        high = v6High
        low = v6Low
        isV6 = true
    }

    public var v4: UInt32 { UInt32(truncatingIfNeeded: low) }

    /// Parses IPv4 or IPv6 text with the C library (for lookups and tests, not per packet).
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.init(v4: UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let (high, low) = withUnsafeBytes(of: &v6) { ($0.u64(0), $0.u64(8)) }
        self.init(v6High: high, v6Low: low)
    }
}
