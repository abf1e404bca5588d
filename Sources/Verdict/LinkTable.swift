import Features
import Match

/// What the MSS says about the path from the client: the MTU it implies, the link type known
/// for that MTU, and whether a middlebox seems to have lowered ("clamped") the MSS.
/// Plain values only (the link type is named by its database entry), so the SYN records that
/// carry a link are copied as bytes, with no reference counting.
public struct Link: Sendable, Equatable {
    public var mss: Int
    public var mtu: Int
    /// The link entry for this MTU, as a position in `Database.links`; nil when not listed.
    public var entry: Int?
    public var tunnel: Bool
    public var clamped: Bool

    public init(mss: Int, mtu: Int, entry: Int?, tunnel: Bool, clamped: Bool) {
        self.mss = mss
        self.mtu = mtu
        self.entry = entry
        self.tunnel = tunnel
        self.clamped = clamped
    }

    /// The link type's name, from the database the table was built from.
    public func type(in database: Database?) -> String? {
        entry.flatMap { database?.links[$0].link }
    }
}

/// MTU → link type, from the database's link entries (the shipped table lists p0f's values,
/// WireGuard, OpenVPN, IPsec, PPPoE and the loopbacks; README "MTU and links").
public struct LinkTable: Sendable {
    private var tunnels: [Bool] = []
    /// Position in the entries + 1 for every possible MTU (0: not listed): one load per SYN, no hashing.
    private var byMTU = [UInt32](repeating: 0, count: 65536 + 60 + 1)

    /// `entries` are the database's link entries (`Database.links`).
    public init(_ entries: [LinkEntry]) {
        tunnels = entries.map(\.tunnel)
        // The first entry for an MTU wins, as the files were given.
        for (position, entry) in entries.enumerated() where byMTU[entry.mtu] == 0 {
            byMTU[entry.mtu] = UInt32(position + 1)
        }
    }

    /// The link of a SYN that carries an MSS option.
    public func link(for fingerprint: Fingerprint) -> Link? {
        guard let mss = fingerprint.options.mss.map(Int.init), mss > 0 else { return nil }
        let isV4 = fingerprint.ip.version == 4
        let mtu = mss + (isV4 ? 40 : 60)
        let entry = byMTU[mtu] > 0 ? Int(byMTU[mtu]) - 1 : nil
        return Link(mss: mss, mtu: mtu, entry: entry, tunnel: entry.map { tunnels[$0] } ?? false,
                    clamped: LinkTable.looksClamped(mss: mss, window: Int(fingerprint.segment.window), isV4: isV4))
    }

    /// Stacks size their first window from their own interface's MSS (Windows 64240 = 44 × 1460,
    /// Linux 64240, 29200, 14600). A window that is a multiple of the Ethernet MSS while the
    /// advertised MSS is lower and does not divide it means the MSS was rewritten on the way.
    static func looksClamped(mss: Int, window: Int, isV4: Bool) -> Bool {
        let ethernetMSS = isV4 ? 1460 : 1440
        guard mss < ethernetMSS, window >= ethernetMSS * 4 else { return false }
        return window % ethernetMSS == 0 && window % mss != 0
    }
}
