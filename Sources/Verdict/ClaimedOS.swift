import Match

/// The OS a User-Agent (or the `Sec-CH-UA-Platform` client hint) claims. The class is nil when
/// only the family is named (a `Darwin/…` UA may be macOS or iOS).
public struct ClaimedOS: Sendable, Equatable {
    public var osClass: OSClass?
    public var family: OSFamily

    public init(_ osClass: OSClass) {
        self.osClass = osClass
        family = osClass.family
    }

    public init(family: OSFamily) {
        osClass = nil
        self.family = family
    }
}
