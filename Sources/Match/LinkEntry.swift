/// A link type known by its MTU (MSS + 40 for IPv4, + 60 for IPv6): p0f's `[mtu]` section.
public struct LinkEntry: Sendable, Equatable {
    public var id: String
    public var mtu: Int
    public var link: String
    /// The link carries a tunnel or VPN (evidence for a proxy verdict, weak on its own).
    public var tunnel: Bool
    public var provenance: Provenance
    public var source: String
    public var line: Int

    public init(id: String, mtu: Int, link: String, tunnel: Bool, provenance: Provenance, source: String, line: Int) {
        self.id = id
        self.mtu = mtu
        self.link = link
        self.tunnel = tunnel
        self.provenance = provenance
        self.source = source
        self.line = line
    }
}
