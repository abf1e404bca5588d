/// Option kinds synprint names. Anything else is kept by number (p0f's `?K`).
public enum OptionKind {
    public static let eol: UInt8 = 0
    public static let nop: UInt8 = 1
    public static let mss: UInt8 = 2
    public static let windowScale: UInt8 = 3
    public static let sackPermitted: UInt8 = 4
    public static let sack: UInt8 = 5
    public static let timestamp: UInt8 = 8
    public static let md5: UInt8 = 19
    public static let authentication: UInt8 = 29  // TCP-AO
    public static let mptcp: UInt8 = 30
    public static let fastOpen: UInt8 = 34
    public static let experimental: UInt8 = 254  // RFC 6994; TFO used magic 0xF989 before 34
}
