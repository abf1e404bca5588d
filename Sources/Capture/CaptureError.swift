/// A capture problem worded for the person running synprint: one line, saying what to do.
public struct CaptureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
