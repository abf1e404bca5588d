/// The level at which a SYN tells systems apart reliably.
/// One value per OS family, indexed by `rawValue` (a test holds its size to `OSFamily.allCases`).
public typealias PerOSFamily<Value> = InlineArray<6, Value>

public enum OSFamily: Int, CaseIterable, Sendable {
    case windows, apple, linuxLike, bsd, other, unknown

    public var name: String {
        switch self {
        case .windows: "Windows"
        case .apple: "Apple"
        case .linuxLike: "Linux-like"
        case .bsd: "BSD"
        case .other: "Other"
        case .unknown: "unknown"
        }
    }

    public init?(name: String) {
        guard let match = OSFamily.allCases.first(where: { $0.name.lowercased() == name.lowercased() }) else { return nil }
        self = match
    }
}
