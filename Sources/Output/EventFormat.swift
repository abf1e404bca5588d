import Features
import Match
import Verdict

/// One fingerprinted SYN or SYN+ACK, ready to be written.
public struct SynEvent {
    public var seconds: Int
    public var microseconds: Int
    public var fingerprint: Fingerprint
    public var classification: Classification?
    public var link: Link?

    public init(seconds: Int, microseconds: Int, fingerprint: Fingerprint, classification: Classification? = nil, link: Link? = nil) {
        self.seconds = seconds
        self.microseconds = microseconds
        self.fingerprint = fingerprint
        self.classification = classification
        self.link = link
    }
}

/// A connection's first HTTP request and the verdict on it.
public struct RequestEvent {
    public var observation: HTTPObservation
    public var verdict: Verdict

    public init(observation: HTTPObservation, verdict: Verdict) {
        self.observation = observation
        self.verdict = verdict
    }
}

/// How events are written: a text block a person reads, one JSON object a line, or p0f's
/// `key=value|…` log lines for tools that parse p0f logs.
public enum EventFormat: String, Sendable, CaseIterable {
    case text
    case json
    case p0f
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
        case .p0f:
            P0fLog.write(event, database: database, to: out)
        }
    }

    public func write(_ event: RequestEvent, to out: TextBuffer) {
        switch format {
        case .text: TextEvent.write(event, database: database, to: out)
        case .json:
            let os = event.observation.syn.classification.flatMap { c in database.map { renderOS(c, $0) } }
            RequestJSON.write(event, type: "http", database: database, renderedOS: os, to: out)
        case .p0f: P0fLog.write(event, to: out)
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
