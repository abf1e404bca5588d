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

    /// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as a dual-stack server names an IPv4
    /// client) as the IPv4 address the packets carry; any other address as it is.
    public var unmapped: IPAddress {
        isV6 && high == 0 && low >> 32 == 0xFFFF ? IPAddress(v4: v4) : self
    }

    /// The network a client is grouped by in summaries, reports and the fleet store: its /24
    /// (IPv4) or /48 (IPv6), as Cloudflare's connection analysis groups them.
    public var clientNetwork: IPAddress {
        var network = self
        if isV6 {
            network.high &= 0xFFFF_FFFF_FFFF_0000
            network.low = 0
        } else {
            network.low &= 0xFFFF_FF00
        }
        return network
    }

    /// The prefix length of `clientNetwork`.
    public var clientNetworkBits: Int { isV6 ? 48 : 24 }

    /// The hash the flow and host tables use, in place of the standard library's SipHash
    /// (perf: a third of the per-packet instructions with --flow-stats and --connections went
    /// to hashing addresses and flow keys). `seed` is the table's secret random seed, mixed in
    /// before each word, so colliding keys cannot be chosen without knowing it.
    @inlinable
    public func _rawHashValue(seed: Int) -> Int {
        let first = TableHash.mix(UInt64(bitPattern: Int64(seed)) ^ high ^ (isV6 ? 1 << 63 : 0))
        return Int(bitPattern: UInt(TableHash.mix(first ^ low)))
    }

    /// Parses IPv4 or IPv6 text with the C library (for lookups and tests, not per packet).
    /// Text with a NUL in it is no address (the C library would stop reading at the NUL).
    public init?(_ text: String) {
        guard !text.utf8.contains(0) else { return nil }
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

/// A keyed mixing hash for the per-packet tables: splitmix64's finalizer (a bijection on 64 bits
/// with good avalanche), applied after the secret seed and before each further word.
public enum TableHash {
    @inlinable
    public static func mix(_ value: UInt64) -> UInt64 {
        var x = value &+ 0x9E37_79B9_7F4A_7C15
        x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
        return x ^ (x >> 31)
    }
}
