/// How an MSS relates to the MTU of the sender's link: the MSS is the MTU minus the IP and TCP
/// headers without options (RFC 879; RFC 8200 for IPv6's 40-byte header).
public enum LinkMTU {
    /// Ethernet's payload size (IEEE 802.3), the MTU most hosts have.
    public static let ethernet = 1500
    /// The smallest MTU an IPv6 link may have (RFC 8200 §5).
    public static let ipv6Minimum = 1280

    /// IP header plus TCP header, without options: 40 for IPv4, 60 for IPv6.
    @inlinable
    public static func headerBytes(ipVersion: UInt8) -> Int { ipVersion == 6 ? 60 : 40 }

    @inlinable
    public static func mtu(mss: Int, ipVersion: UInt8) -> Int { mss + headerBytes(ipVersion: ipVersion) }

    /// The MSS a host on Ethernet announces: 1460 over IPv4, 1440 over IPv6.
    @inlinable
    public static func ethernetMSS(ipVersion: UInt8) -> Int { ethernet - headerBytes(ipVersion: ipVersion) }
}
