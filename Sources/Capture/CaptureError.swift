/// A capture problem worded for the person running synprint: one line, saying what to do.
public struct CaptureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// libpcap could not compile a filter expression.
public struct FilterError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "bad filter expression: \(message)" }
}
