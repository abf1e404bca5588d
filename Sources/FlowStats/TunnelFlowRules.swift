/// The named rules by which a client's traffic looks like a tunnel or proxy (the verdict
/// reason `tunnel_flow:<rule>`). docs/FLOWSTATS.md gives the measurements they come from.
public struct TunnelFlowRules: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// A long connection whose first payload was high-entropy bytes that are neither TLS nor
    /// SSH nor HTTP: an obfuscated or encrypted tunnel protocol (Shadowsocks, obfs4).
    public static let opaque = TunnelFlowRules(rawValue: 1 << 0)
    /// OpenVPN's TCP framing and hard-reset opcode in the first payload.
    public static let openVPN = TunnelFlowRules(rawValue: 1 << 1)
    /// One long connection carries most of the client's bytes both ways, with many request and
    /// answer turns: a tunnel multiplexing a browser's traffic (SSH forwarding, TLS wrappers).
    public static let singleFlow = TunnelFlowRules(rawValue: 1 << 2)

    /// Connections whose ClientHello has neither a server name nor ALPN carry the traffic: a TLS
    /// wrapper such as stunnel, not a browser or an HTTP library.
    public static let bareTLS = TunnelFlowRules(rawValue: 1 << 3)
    /// A proxy request opens a connection: SOCKS 4 or 5, HTTP CONNECT or an absolute-form target.
    public static let proxy = TunnelFlowRules(rawValue: 1 << 4)

    public static let named: [(TunnelFlowRules, String)] = [
        (.opaque, "opaque"), (.openVPN, "openvpn"), (.singleFlow, "single_flow"), (.bareTLS, "bare_tls"), (.proxy, "proxy"),
    ]

    public var names: [String] { TunnelFlowRules.named.filter { contains($0.0) }.map(\.1) }
}
