import Features

/// A SYN or SYN+ACK as the pipeline passes it on: when it was captured, its features, the
/// matcher's answer and the path (both present when a database is loaded).
public struct SynObservation: Sendable {
    public var seconds: Int
    public var microseconds: Int
    public var fingerprint: Fingerprint
    public var classification: Classification?
    public var path: NetworkPath?

    public init(
        seconds: Int, microseconds: Int, fingerprint: Fingerprint, classification: Classification? = nil,
        path: NetworkPath? = nil
    ) {
        self.seconds = seconds
        self.microseconds = microseconds
        self.fingerprint = fingerprint
        self.classification = classification
        self.path = path
    }
}
