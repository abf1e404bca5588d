import Features
import Match

/// One fingerprinted SYN or SYN+ACK, ready to be written.
public struct SynEvent {
    public var seconds: Int
    public var microseconds: Int
    public var fingerprint: Fingerprint
    public var classification: Classification?

    public init(seconds: Int, microseconds: Int, fingerprint: Fingerprint, classification: Classification? = nil) {
        self.seconds = seconds
        self.microseconds = microseconds
        self.fingerprint = fingerprint
        self.classification = classification
    }
}

/// How events are written: one JSON object a line, or a text block a person reads.
public enum EventFormat: String, CaseIterable, Sendable {
    case text
    case json

    public func write(_ event: SynEvent, database: Database?, to out: TextBuffer) {
        switch self {
        case .json: JSONEvent.write(event, database: database, to: out)
        case .text: TextEvent.write(event, database: database, to: out)
        }
    }
}
