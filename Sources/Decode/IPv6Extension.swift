/// The IPv6 extension headers the decoder walks to reach TCP (RFC 8200 §4 and the IANA
/// "IPv6 Extension Header Types" registry). The capture filter passes every packet whose chain
/// starts with one of them, so the two never disagree.
public enum IPv6Extension {
    public static let hopByHop: UInt8 = 0
    public static let routing: UInt8 = 43
    public static let fragment: UInt8 = 44
    public static let authentication: UInt8 = 51
    public static let destination: UInt8 = 60
    public static let mobility: UInt8 = 135
    public static let hip: UInt8 = 139
    public static let shim6: UInt8 = 140

    /// Every next-header value the decoder follows.
    public static let walked: [UInt8] = [hopByHop, routing, fragment, authentication, destination, mobility, hip, shim6]
}
