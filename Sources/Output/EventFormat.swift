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
/// so it is rendered once per answer and copied after (the `link` object likewise). Answer ids count up, so the renderings
/// live in a ring indexed by id: bounded, and found without hashing.
public final class EventWriter {
    private let format: EventFormat
    private let database: Database?
    private var renderedOS: [(answer: Int, text: TextBuffer)?] = Array(repeating: nil, count: EventWriter.ringSize)
    private static let ringSize = 4096
    private var renderedLinks: [(link: Link, text: TextBuffer)?] = Array(repeating: nil, count: EventWriter.linkSlots)
    private static let linkSlots = 256

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
            if let link = event.link {
                out.append(",\"link\":")
                out.append(renderLink(link))
            }
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

    /// Links repeat as much as answers (a few MSS values make most traffic); rendered once
    /// each into a small direct-mapped cache.
    private func renderLink(_ link: Link) -> TextBuffer {
        let slot = (link.mss &* 31 &+ link.mtu &+ (link.clamped ? 1 : 0)) & (EventWriter.linkSlots - 1)
        if let cached = renderedLinks[slot], cached.link == link { return cached.text }
        let text = TextBuffer(capacity: 128)
        JSONEvent.writeLink(link, database: database, to: text)
        renderedLinks[slot] = (link, text)
        return text
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
