/// Why a packet was passed over without being fingerprinted. Counted, never an error.
public enum SkipReason: Int, CaseIterable, Sendable {
    case notIP  // ARP, LLDP, other EtherTypes / address families
    case notTCP
    case fragment  // non-first IPv4/IPv6 fragment: no TCP header inside
    case notSYN  // TCP without SYN: not fingerprinted

    public var name: String {
        switch self {
        case .notIP: "not_ip"
        case .notTCP: "not_tcp"
        case .fragment: "non_first_fragment"
        case .notSYN: "tcp_not_syn"
        }
    }
}

/// Why a packet could not be decoded. Counted and skipped, never a crash.
public enum MalformedReason: Int, CaseIterable, Sendable {
    case truncatedLink  // shorter than its link header
    case badIPHeader  // wrong version, header length below minimum or beyond the packet
    case truncatedIP  // captured bytes end inside the IP header chain
    case badIPv6Extension  // extension header chain runs past the packet
    case badTCPOffset  // data offset below 5 or beyond the segment
    case snaplenCut  // the capture's snaplen cut the TCP header

    public var name: String {
        switch self {
        case .truncatedLink: "truncated_link_header"
        case .badIPHeader: "bad_ip_header"
        case .truncatedIP: "truncated_ip"
        case .badIPv6Extension: "bad_ipv6_extension"
        case .badTCPOffset: "bad_tcp_offset"
        case .snaplenCut: "snaplen_cut_tcp_header"
        }
    }
}

public enum DecodeOutcome {
    case tcp(TCPSegment)
    case skipped(SkipReason)
    case malformed(MalformedReason)
}
