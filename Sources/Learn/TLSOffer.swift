import FlowStats
import Match

/// What a ClientHello offers, as the table of stacks compares it: its suites, extensions and
/// groups as sorted sets without GREASE, the suites' order, whether it has GREASE, and its ALPN
/// protocols.
public struct TLSOffer: Hashable, Sendable {
    public let ciphers: [UInt16]
    /// The suites in the hello's order, without repeats.
    public let preference: [UInt16]
    public let extensions: [UInt16]
    public let groups: [UInt16]
    public let grease: Bool
    public let alpn: [String]

    /// `ciphers` in the hello's order; the sets need not be sorted; GREASE values are left out
    /// by the caller.
    public init(ciphers: [UInt16], extensions: [UInt16], groups: [UInt16], grease: Bool, alpn: [String]) {
        self.ciphers = TLSStacks.sortedSet(ciphers)
        preference = TLSStacks.firstOccurrences(ciphers)
        self.extensions = TLSStacks.sortedSet(extensions)
        self.groups = TLSStacks.sortedSet(groups)
        self.grease = grease
        self.alpn = alpn
    }

    /// Whether it can be a stack of the table, which needs suites, extensions and groups.
    public var makesStack: Bool { !ciphers.isEmpty && !extensions.isEmpty && !groups.isEmpty }

    public init(_ hello: ClientHello) {
        self.init(ciphers: hello.ciphers, extensions: hello.extensions, groups: hello.groups, grease: hello.grease, alpn: hello.protocols)
    }
}
