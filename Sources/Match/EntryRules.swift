import Decode
import Features

/// A value an entry either fixes or leaves open.
public enum Rule<Value: Hashable & Sendable>: Hashable, Sendable {
    case any
    case exactly(Value)
}

/// What an entry says about the IP ID.
public enum IPIDRule: Hashable, Sendable {
    case any
    case zero
    case nonZero
    case value(UInt16)  // crafted stacks with a fixed ID (ZMap sends 54321)
}

/// How a stack sizes the window of its SYN: p0f's forms, plus the rule of stacks that fill the
/// 16-bit field with whole segments.
public enum WindowRule: Hashable, Sendable {
    case value(Int)
    case mssMultiple(Int)
    case mtuMultiple(Int)
    case modulo(Int)  // any multiple of N (p0f `%N`)
    /// The largest multiple of the sender's own MSS that fits in 65535 (`mss*fit`): Linux since
    /// 4.19 rounds its receive space (64 KiB with the default `tcp_rmem`) down to whole segments
    /// in `tcp_select_initial_window` (64240 at MSS 1460, 64800 at 1440, 64860 at 1380), and
    /// Windows 10 and later send the same 64240 at MSS 1460.
    case mssFit

    /// p0f's window syntax (`8192`, `mss*44`, `mtu*4`, `%8192`) and `mss*fit`.
    public init?(text: String) {
        if text == "mss*fit" { self = .mssFit; return }
        if text.hasPrefix("mss*"), let n = Int(text.dropFirst(4)), n > 0, n < 65536 { self = .mssMultiple(n); return }
        if text.hasPrefix("mtu*"), let n = Int(text.dropFirst(4)), n > 0, n < 65536 { self = .mtuMultiple(n); return }
        if text.hasPrefix("%"), let n = Int(text.dropFirst()), n > 0, n < 65536 { self = .modulo(n); return }
        if let n = Int(text), (0...65535).contains(n) { self = .value(n); return }
        return nil
    }

    public var text: String {
        switch self {
        case .value(let n): String(n)
        case .mssMultiple(let n): "mss*\(n)"
        case .mtuMultiple(let n): "mtu*\(n)"
        case .modulo(let n): "%\(n)"
        case .mssFit: "mss*fit"
        }
    }

    /// The window this rule gives a sender whose own MSS is `mss`, or whether `window` fits it.
    public func allows(window: Int, senderMSS mss: Int, ipVersion: UInt8) -> Bool {
        switch self {
        case .value(let value): return window == value
        case .modulo(let n): return window % n == 0
        case .mssMultiple(let n): return mss > 0 && window == n * mss
        case .mtuMultiple(let n): return mss > 0 && window == n * LinkMTU.mtu(mss: mss, ipVersion: ipVersion)
        case .mssFit: return mss > 0 && window == WindowRule.fitWindow(mss: mss)
        }
    }

    /// 64 KiB rounded down to whole segments, capped at 65535 (an MSS that divides 65536 gives
    /// 65536, which the field cannot hold).
    public static func fitWindow(mss: Int) -> Int {
        min(65536 / mss * mss, 65535)
    }
}

/// An option layout as p0f writes it: kinds in wire order, and the bytes after an EOL.
public struct LayoutPattern: Hashable, Sendable {
    public var layout: OptionLayout
    public var eolPadding: Int

    public init(_ layout: OptionLayout, eolPadding: Int) {
        self.layout = layout
        self.eolPadding = eolPadding
    }
}

/// Which of the sender's features an entry accepts: the first value is what the stack sends by
/// default and matches in full; the others are what it sends when configured otherwise (an
/// option switched off by sysctl, a tuned buffer) and match with `MatchWeights.variantCredit`.
/// An empty list accepts anything.
public struct Choices<Value: Hashable & Sendable>: Hashable, Sendable {
    public var values: [Value]

    public init(_ values: [Value]) { self.values = values }

    public static var any: Choices { Choices([]) }
    public var isAny: Bool { values.isEmpty }
}

/// Window scale values: one number, or an inclusive range (`"7-14"`).
public struct ScaleRange: Hashable, Sendable {
    public var lower: UInt8
    public var upper: UInt8

    public init(_ lower: UInt8, _ upper: UInt8) {
        self.lower = lower
        self.upper = upper
    }

    public func contains(_ scale: Int) -> Bool { scale >= Int(lower) && scale <= Int(upper) }

    public var text: String { lower == upper ? String(lower) : "\(lower)-\(upper)" }
}
