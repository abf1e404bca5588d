import Tables

/// Where each rule comes from: thresholds chosen from measured tunnels and ordinary traffic
/// (docs/FLOWSTATS.md).
extension TunnelFlowRules {
    // Thresholds (docs/FLOWSTATS.md).
    /// Data packets the window's opaque or bare-TLS connections must carry (a stray connection
    /// is not a tunnel).
    public static let tunnelDataPackets: UInt32 = 20
    /// Share of the window's bytes in one connection, that connection's age, and the data
    /// segments each way that make `singleFlow`.
    public static let singleFlowShare = 0.9
    public static let singleFlowAge: Int64 = 10_000_000
    public static let singleFlowDataPackets: UInt32 = 30
    /// Bytes toward the client in the window: pages and downloads, not keystrokes (an
    /// interactive SSH session is one long two-way connection too, but carries little).
    public static let singleFlowDownstreamBytes: UInt64 = 64 << 10

    /// The rules a closed window meets.
    public static func evaluate(_ w: FlowWindow) -> TunnelFlowRules {
        var rules: TunnelFlowRules = []
        func started(_ kind: PayloadKind) -> Bool { w.firstPayloads[kind.rawValue] > 0 || w.dataPacketsByFirstPayload[kind.rawValue] > 0 }
        func carried(_ kind: PayloadKind) -> Bool { w.dataPacketsByFirstPayload[kind.rawValue] >= tunnelDataPackets }
        if started(.openVPN) { rules.insert(.openVPN) }
        if carried(.opaque) { rules.insert(.opaque) }
        if carried(.bareTLS) { rules.insert(.bareTLS) }
        if started(.socks) || started(.httpProxy) { rules.insert(.proxy) }
        if w.largestConnectionShare >= singleFlowShare, w.longestConnection >= singleFlowAge,
            w.up.dataPackets >= singleFlowDataPackets, w.down.dataPackets >= singleFlowDataPackets,
            w.down.bytes >= singleFlowDownstreamBytes
        {
            rules.insert(.singleFlow)
        }
        return rules
    }
}
