#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Option kinds in wire order, stored inline: 40 option bytes hold at most 40 options.
public struct OptionLayout: RandomAccessCollection, Hashable, Sendable {
    private var storage = InlineArray<40, UInt8>(repeating: 0)
    public private(set) var count = 0

    public init() {}

    public init<S: Sequence>(_ kinds: S) where S.Element == UInt8 {
        for kind in kinds { append(kind) }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    public subscript(position: Int) -> UInt8 { storage[position] }

    public mutating func append(_ kind: UInt8) {
        guard count < 40 else { return }
        storage[count] = kind
        count += 1
    }

    /// The kinds in place, without copying the layout.
    public func withKinds<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        withUnsafeBytes(of: storage) { body(UnsafeBufferPointer(start: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: count)) }
    }

    // Slots past `count` are always zero, so the whole inline storage can be compared and
    // hashed at once (the matcher's cache hashes a layout per packet).
    public static func == (a: OptionLayout, b: OptionLayout) -> Bool {
        a.count == b.count
            && withUnsafeBytes(of: a.storage) { x in
                withUnsafeBytes(of: b.storage) { y in memcmp(x.baseAddress!, y.baseAddress!, 40) == 0 }
            }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        withUnsafeBytes(of: storage) { hasher.combine(bytes: $0) }
    }
}
