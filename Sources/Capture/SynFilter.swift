import Decode

/// The BPF expression that selects TCP SYNs and SYN+ACKs before they reach synprint.
///
/// `tcp[tcpflags]` only works for IPv4, so IPv6 reads the flags byte at offset 53 (40-byte
/// header + 13) when TCP follows the fixed header directly. IPv6 packets that start an
/// extension header chain are passed on whole and the decoder walks the chain: `protochain`
/// would do it in BPF, but its loop cannot run in the kernel's filter.
///
/// Following connections to their HTTP request also needs the client's data segments: those
/// variants pass SYNs and segments that carry payload, and still drop bare ACKs in the kernel.
///
/// libpcap's `vlan` keyword shifts the offsets of everything after it, so each branch
/// repeats the user's expression after its own `vlan` keywords.
public enum SynFilter {
    static let ipv4 = "(ip and tcp[tcpflags] & tcp-syn != 0)"
    static let ipv6Direct = "(ip6 and ip6[6] == 6 and ip6[53] & 2 != 0)"
    /// Every IPv6 packet whose chain starts with a header the decoder walks.
    static let ipv6Extended = "(ip6 and (" + IPv6Extension.walked.map { "ip6[6] == \($0)" }.joined(separator: " or ") + "))"
    static let plain = "(\(ipv4) or \(ipv6Direct) or \(ipv6Extended))"
    static let ipv4Payload =
        "(ip and tcp and (tcp[tcpflags] & tcp-syn != 0 or ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2) > 0))"
    static let ipv6DirectPayload = "(ip6 and ip6[6] == 6 and (ip6[53] & 2 != 0 or ip6[4:2] - ((ip6[52] & 0xf0) >> 2) > 0))"
    static let withPayload = "(\(ipv4Payload) or \(ipv6DirectPayload) or \(ipv6Extended))"

    /// What the kernel passes: SYNs and SYN+ACKs; those and segments with payload (requests);
    /// or every TCP segment (connections followed to their end, `--connections`).
    public enum Scope: Sendable {
        case syns, withPayload, allTCP
    }

    static let allTCP = "(tcp or \(ipv6Extended))"

    /// The default filter for a link type, narrowed by the user's own expression if any.
    public static func expression(vlanTags: Bool, user: String?, scope: Scope = .syns) -> String {
        let base =
            switch scope {
            case .syns: plain
            case .withPayload: withPayload
            case .allTCP: allTCP
            }
        let syn = user.map { $0.isEmpty ? base : "(\(base) and (\($0)))" } ?? base
        guard vlanTags else { return syn }
        // Behind a third tag or more, the decoder decides (it walks any number), so that such
        // frames are read alike whatever the scope; the user's words reach two tags deep only.
        let deeper = user.map { $0.isEmpty } ?? true ? " or vlan" : ""
        return "(\(syn) or (vlan and (\(syn) or (vlan and (\(syn)\(deeper))))))"
    }
}
