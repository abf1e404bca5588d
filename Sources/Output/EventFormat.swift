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
public enum EventFormat: Sendable {
    case text
    case json
}

/// Writes events in one format. The JSON `os` object depends only on the matcher's answer,
/// so it is rendered once per answer and copied after. Answer ids count up, so the renderings
/// live in a ring indexed by id: bounded, and found without hashing.
public final class EventWriter {
    private let format: EventFormat
    private let database: Database?
    private var renderedOS: [(answer: Int, text: TextBuffer)?] = Array(repeating: nil, count: EventWriter.ringSize)
    private static let ringSize = 4096

    public init(format: EventFormat, database: Database?) {
        self.format = format
        self.database = database
    }

    public func write(_ event: SynEvent, to out: TextBuffer) {
        switch format {
        case .text:
            TextEvent.write(event, database: database, to: out)
        case .json:
            JSONEvent.writeFeatures(event, to: out)
            if let c = event.classification, let database {
                out.append(",\"os\":")
                out.append(renderOS(c, database))
            }
            out.append("}\n")
        }
    }

    private func renderOS(_ c: Classification, _ database: Database) -> TextBuffer {
        let slot = c.answer % EventWriter.ringSize
        if let cached = renderedOS[slot], cached.answer == c.answer { return cached.text }
        let text = TextBuffer(capacity: 512)
        JSONEvent.writeOS(c, database: database, to: text)
        renderedOS[slot] = (c.answer, text)
        return text
    }
}
