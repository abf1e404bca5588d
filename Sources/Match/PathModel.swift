import Decode
import Features

/// What a SYN says about the network path behind its sender rather than about its stack: the
/// MTU its MSS implies and the link type known for it, whether a middlebox lowered ("clamped")
/// the MSS after the stack sized its window, and how many hops the TTL has lost.
/// Plain values only (the link is named by its database entry), so records that carry a path
/// are copied as bytes, with no reference counting.
public struct NetworkPath: Sendable, Equatable {
    /// The MSS option as it arrived; nil when the SYN has none.
    public var mss: Int?
    /// The MTU that MSS implies (MSS + 40 for IPv4, + 60 for IPv6).
    public var mtu: Int?
    /// The link entry for that MTU, as a position in `Database.links`; nil when not listed.
    public var linkIndex: Int?
    /// A tunnel or VPN MTU: a listed tunnel link, or an unlisted MTU in the tunnel range.
    public var tunnel: Bool
    /// The window was sized for a larger MSS than the one that arrived.
    public var clamped: Bool
    /// The MSS the sender itself announced, when `clamped`: what the window was computed from.
    public var originalMSS: Int?
    /// Hops from the initial TTL; nil when the TTL is implausibly far below any default.
    public var hops: Int?

    public init(mss: Int?, mtu: Int?, linkIndex: Int?, tunnel: Bool, clamped: Bool, originalMSS: Int?, hops: Int?) {
        self.mss = mss
        self.mtu = mtu
        self.linkIndex = linkIndex
        self.tunnel = tunnel
        self.clamped = clamped
        self.originalMSS = originalMSS
        self.hops = hops
    }

    /// The link's name, from the database the model was built from.
    public func linkName(in database: Database?) -> String? {
        linkIndex.flatMap { database?.links[$0].link }
    }

    /// The MSS the sender's stack sized its window from: the original one when clamped.
    public var senderMSS: Int? { originalMSS ?? mss }
}

/// MTU → link type from the database's link entries (the shipped table lists p0f's values,
/// WireGuard, OpenVPN, IPsec, PPPoE and the loopbacks; README "Paths and links"), and the
/// clamping rules that recover the sender's own MSS from its window.
public struct PathModel: Sendable {
    private var tunnels: [Bool] = []
    /// The MTUs of the link entries, largest first: the MSS values a sender may have started from.
    private var linkMTUs: [Int] = []
    /// Position in the entries + 1 for every possible MTU (0: not listed): one load per SYN, no hashing.
    private var byMTU = [UInt32](repeating: 0, count: 65536 + 60 + 1)

    /// MTUs at or below this that no link entry names still count as a tunnel: such paths are
    /// VPNs and overlays more often than anything else (IPIP/SIT's 1480 is the largest listed).
    public static let unlistedTunnelMTU = 1280...1480

    /// `entries` are the database's link entries (`Database.links`).
    public init(_ entries: [LinkEntry]) {
        tunnels = entries.map(\.tunnel)
        linkMTUs = Array(Set(entries.map(\.mtu))).sorted(by: >)
        // The first entry for an MTU wins, as the files were given.
        for (position, entry) in entries.enumerated() where byMTU[entry.mtu] == 0 {
            byMTU[entry.mtu] = UInt32(position + 1)
        }
    }

    public func path(for fingerprint: Fingerprint) -> NetworkPath {
        let hops = fingerprint.distanceIsPlausible ? fingerprint.distance : nil
        guard let mss = fingerprint.options.mss.map(Int.init), mss > 0 else {
            return NetworkPath(mss: nil, mtu: nil, linkIndex: nil, tunnel: false, clamped: false, originalMSS: nil, hops: hops)
        }
        let version = fingerprint.ip.version
        let mtu = LinkMTU.mtu(mss: mss, ipVersion: version)
        let entry = byMTU[mtu] > 0 ? Int(byMTU[mtu]) - 1 : nil
        let original = PathModel.senderMSS(window: Int(fingerprint.segment.window), mss: mss, ipVersion: version, linkMTUs: linkMTUs)
        return NetworkPath(
            mss: mss, mtu: mtu, linkIndex: entry,
            tunnel: entry.map { tunnels[$0] } ?? PathModel.unlistedTunnelMTU.contains(mtu),
            clamped: original != nil, originalMSS: original, hops: hops)
    }

    /// The MSS the sender sized its window from, when it is larger than the MSS that arrived
    /// (a middlebox rewrote it), else nil. Stacks size the first window from their own MSS:
    /// Windows 10+ and Linux 4.19+ take the largest multiple of it that fits in 65535
    /// (Linux `tcp_select_initial_window`), older Linux 10 or 20 segments, and p0f's `mss*N`
    /// signatures describe the same. A window that is such a multiple of a larger MSS while
    /// the arriving MSS does not divide it was sized before the MSS was lowered. The larger MSS
    /// is Ethernet's, or that of another known link (`linkMTUs`) for a window of 4 or more segments.
    ///
    /// An IPv6 MSS that implies an MTU below IPv6's minimum of 1280 (RFC 8200) was lowered on
    /// the way even when it happens to divide the window.
    public static func senderMSS(window: Int, mss: Int, ipVersion: UInt8, linkMTUs: [Int] = []) -> Int? {
        guard mss > 0, window > 0 else { return nil }
        let belowIPv6Minimum = ipVersion == 6 && LinkMTU.mtu(mss: mss, ipVersion: 6) < LinkMTU.ipv6Minimum
        guard window % mss != 0 || belowIPv6Minimum else { return nil }
        let ethernet = LinkMTU.ethernetMSS(ipVersion: ipVersion)
        if mss < ethernet, window >= 4 * ethernet, window % ethernet == 0 { return ethernet }
        for mtu in linkMTUs {
            let candidate = mtu - LinkMTU.headerBytes(ipVersion: ipVersion)
            guard candidate > mss else { break }
            if candidate <= ethernet, window >= 4 * candidate, window % candidate == 0 { return candidate }
        }
        // The largest multiple of a larger MSS m under 65535: window = k·m with 65535 − window < m.
        // 65535 itself is what a buffer over 64 KiB gives, whatever the MSS.
        guard window > 65535 - ethernet, window < 65535 else { return nil }
        var k = (window + ethernet - 1) / ethernet
        while k * (mss + 1) <= window {
            if window % k == 0 {
                let m = window / k
                if m > mss, m <= ethernet, 65535 - window < m { return m }
            }
            k += 1
        }
        return nil
    }
}
