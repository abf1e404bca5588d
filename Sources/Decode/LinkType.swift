/// Link layers synprint decodes, named by what libpcap reports for a capture.
public enum LinkType: Sendable, Equatable {
    case ethernet
    case linuxCooked  // SLL, 16-byte header
    case linuxCooked2  // SLL2, 20-byte header (the `any` device)
    case rawIP  // version taken from the first nibble
    case ipv4
    case ipv6
    case bsdNull  // 4-byte address family in the capturing host's byte order
    case bsdLoop  // 4-byte address family in network byte order

    /// Maps a libpcap DLT / LINKTYPE number; nil for link types synprint does not decode.
    public init?(dlt: Int32) {
        switch dlt {
        case 1: self = .ethernet
        case 113: self = .linuxCooked
        case 276: self = .linuxCooked2
        case 12, 14, 101: self = .rawIP  // DLT_RAW differs by platform; 101 is LINKTYPE_RAW
        case 228: self = .ipv4
        case 229: self = .ipv6
        case 0: self = .bsdNull
        case 108: self = .bsdLoop
        default: return nil
        }
    }

    /// True when BPF's `vlan` keyword applies to this link type.
    public var carriesVLANTags: Bool { self == .ethernet }
}
