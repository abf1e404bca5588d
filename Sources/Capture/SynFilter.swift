/// The BPF expression that selects TCP SYNs and SYN+ACKs before they reach synprint.
///
/// `tcp[tcpflags]` only works for IPv4, so IPv6 reads the flags byte at offset 53 (40-byte
/// header + 13) when TCP follows directly, and falls back to `protochain` (which walks the
/// extension headers) otherwise. Ethernet frames may carry one or two VLAN tags.
public enum SynFilter {
    static let ipv4 = "(ip and tcp[tcpflags] & tcp-syn != 0)"
    static let ipv6Direct = "(ip6 and ip6[6] == 6 and ip6[53] & 2 != 0)"
    static let ipv6Extended = "(ip6 and ip6[6] != 6 and ip6 protochain 6)"
    static let plain = "(\(ipv4) or \(ipv6Direct) or \(ipv6Extended))"

    /// The default filter for a link type, narrowed by the user's own expression if any.
    public static func expression(vlanTags: Bool, user: String?) -> String {
        var syn = plain
        if vlanTags {
            syn = "(\(plain) or (vlan and (\(plain) or (vlan and \(plain)))))"
        }
        guard let user, !user.isEmpty else { return syn }
        return "\(syn) and (\(user))"
    }
}
