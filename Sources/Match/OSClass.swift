/// The OS classes synprint names. Scanners are classes of their own: their SYNs are crafted.
/// One value per OS class, indexed by `rawValue` (a test holds its size to `OSClass.allCases`:
/// an inline array's size cannot be computed from the enum).
public typealias PerOSClass<Value> = InlineArray<15, Value>

public enum OSClass: Int, CaseIterable, Sendable, Hashable {
    case windows, linux, android, chromeOS, macOS, iOS, freeBSD, openBSD, netBSD, solaris, other
    case zmap, masscan, nmap
    case unknown  // a decision, never a database label

    public static let labels = OSClass.allCases.filter { $0 != .unknown }

    public var name: String {
        switch self {
        case .windows: "Windows"
        case .linux: "Linux"
        case .android: "Android"
        case .chromeOS: "ChromeOS"
        case .macOS: "macOS"
        case .iOS: "iOS"
        case .freeBSD: "FreeBSD"
        case .openBSD: "OpenBSD"
        case .netBSD: "NetBSD"
        case .solaris: "Solaris"
        case .other: "Other"
        case .zmap: "ZMap"
        case .masscan: "masscan"
        case .nmap: "Nmap"
        case .unknown: "unknown"
        }
    }

    public init?(name: String) {
        guard let match = OSClass.allCases.first(where: { $0.name.lowercased() == name.lowercased() }) else { return nil }
        self = match
    }

    public var family: OSFamily {
        switch self {
        case .windows: .windows
        case .linux, .android, .chromeOS: .linuxLike
        case .macOS, .iOS: .apple
        case .freeBSD, .openBSD, .netBSD: .bsd
        case .solaris, .other, .zmap, .masscan, .nmap: .other
        case .unknown: .unknown
        }
    }
}
