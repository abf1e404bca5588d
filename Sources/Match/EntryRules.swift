/// How an entry constrains the window: p0f's forms plus "any".
public enum WindowRule: Hashable, Sendable {
    case any
    case value(Int)
    case mssMultiple(Int)
    case mtuMultiple(Int)
    case modulo(Int)      // any multiple of N (p0f `%N`)
}

extension WindowRule {
    /// p0f's window syntax: `8192`, `mss*44`, `mtu*4`, `%8192`, `*`.
    public init?(p0f text: String) {
        if text == "*" { self = .any; return }
        if text.hasPrefix("mss*"), let n = Int(text.dropFirst(4)), n > 0 { self = .mssMultiple(n); return }
        if text.hasPrefix("mtu*"), let n = Int(text.dropFirst(4)), n > 0 { self = .mtuMultiple(n); return }
        if text.hasPrefix("%"), let n = Int(text.dropFirst()), n > 0 { self = .modulo(n); return }
        if let n = Int(text), (0...65535).contains(n) { self = .value(n); return }
        return nil
    }

    public var p0fText: String {
        switch self {
        case .any: "*"
        case .value(let n): String(n)
        case .mssMultiple(let n): "mss*\(n)"
        case .mtuMultiple(let n): "mtu*\(n)"
        case .modulo(let n): "%\(n)"
        }
    }
}

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
    case value(UInt16)     // crafted stacks with a fixed ID (ZMap sends 54321)
}
