import Formatting
import Match
import Verdict

/// Writes events in one format. The JSON `os` object depends only on the matcher's answer,
/// so it is rendered once per answer and copied after. Answer ids count up, so the renderings
/// live in a ring indexed by id: bounded, and found without hashing.
public final class EventWriter {
    private let format: EventFormat
    private let database: Database?
    private var renderedOS: [(answerID: Int, text: TextBuffer)?] = Array(repeating: nil, count: EventWriter.ringSize)
    private static let ringSize = 4096

    public init(format: EventFormat, database: Database?) {
        self.format = format
        self.database = database
    }

    public func write(_ syn: SynObservation, to out: TextBuffer) {
        switch format {
        case .text:
            TextFormat.write(syn, database: database, to: out)
        case .json:
            JSONFormat.writeFeatures(syn, to: out)
            if let path = syn.path {
                out.append(",\"path\":")
                JSONFormat.writePath(path, database: database, to: out)
            }
            if let c = syn.classification, let database {
                out.append(",\"os\":")
                out.append(renderOS(c, database))
            }
            out.append("}\n")
        case .p0f:
            P0fLogFormat.write(syn, database: database, to: out)
        }
    }

    public func write(_ request: JudgedRequest, to out: TextBuffer) {
        switch format {
        case .text: TextFormat.write(request, database: database, to: out)
        case .json:
            let os = request.observation.syn.classification.flatMap { c in database.map { renderOS(c, $0) } }
            RequestJSON.write(request, type: "http", database: database, renderedOS: os, to: out)
        case .p0f: P0fLogFormat.write(request, to: out)
        }
    }

    private func renderOS(_ c: Classification, _ database: Database) -> TextBuffer {
        let slot = c.answerID.magnitude % UInt(EventWriter.ringSize)   // a swapped tie has a negative id
        if let cached = renderedOS[Int(slot)], cached.answerID == c.answerID { return cached.text }
        let text = TextBuffer(capacity: 512)
        JSONFormat.writeOS(c, database: database, to: text)
        renderedOS[Int(slot)] = (c.answerID, text)
        return text
    }
}
