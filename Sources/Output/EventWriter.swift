import Connections
import FlowStats
import Formatting
import Match
import Tables
import Verdict

/// Writes events in one format. The JSON `os` object depends only on the matcher's answer,
/// so it is rendered once per answer and copied after. Answer ids count up, so the renderings
/// live in a ring indexed by id: bounded, and found without hashing.
public final class EventWriter {
    private let format: EventFormat
    private let database: Database?
    public let labels: EventLabels
    let scratch = TextBuffer(capacity: 4096)
    private var renderedOS: [(answerID: Int, text: TextBuffer)?] = Array(repeating: nil, count: EventWriter.ringSize)
    private static let ringSize = 4096
    /// Paths repeat as much as answers (a few MSS values make most traffic): each is rendered
    /// once, but for its hop count, into a small direct-mapped cache.
    private var renderedPaths: [(path: NetworkPath, text: TextBuffer)?] = Array(repeating: nil, count: EventWriter.pathSlots)
    private static let pathSlots = 256

    public init(format: EventFormat, database: Database?, labels: EventLabels) {
        self.format = format
        self.database = database
        self.labels = labels
    }

    public func write(_ syn: SynObservation, to out: TextBuffer) {
        switch format {
        case .text:
            TextFormat.write(syn, database: database, to: out)
        case .json:
            let isSYN = syn.fingerprint.direction == .syn
            labels.write(
                type: isSYN ? "syn" : "synack", kind: "event", seconds: syn.seconds, microseconds: syn.microseconds,
                flow: FlowKey(syn.fingerprint.segment), scratch: scratch, to: out
            ) { out in
                JSONFormat.writeFeatures(syn, to: out)
                labels.appendCommon(syn.fingerprint.segment, to: out)
                if let path = syn.path {
                    out.append(",\"path\":")
                    out.append(renderPathWithoutHops(path))
                    out.append(",\"hops\":"); out.append(optional: path.hops)
                    out.append(ascii: "}")
                }
                if let c = syn.classification, let database {
                    out.append(",\"os\":")
                    out.append(renderOS(c, database))
                }
                out.append(ascii: "}")
            }
        case .p0f:
            P0fLogFormat.write(syn, database: database, to: out)
        }
    }

    public func write(_ request: JudgedRequest, to out: TextBuffer) {
        switch format {
        case .text: TextFormat.write(request, database: database, to: out)
        case .json:
            let os = request.observation.syn.classification.flatMap { c in database.map { renderOS(c, $0) } }
            RequestJSON.write(request, type: "http", database: database, labels: labels, renderedOS: os, scratch: scratch, to: out)
        case .p0f: P0fLogFormat.write(request, to: out)
        }
    }

    public func write(_ connection: FollowedConnection, to out: TextBuffer) {
        switch format {
        case .text: ConnectionFormat.writeText(connection, to: out)
        case .p0f: ConnectionFormat.writeP0f(connection, to: out)
        case .json:
            let path = connection.path.map { renderPathWithoutHops($0) }
            labels.write(
                type: "conn", kind: "event", seconds: Int(connection.start / 1_000_000),
                microseconds: Int(connection.start % 1_000_000), flow: connection.key, scratch: scratch, to: out
            ) { out in
                ConnectionFormat.writeJSON(connection, labels: labels, path: path, to: out)
            }
        }
    }

    public func write(_ window: FlowWindow, to out: TextBuffer) {
        switch format {
        case .text: FlowStatsFormat.writeText(window, to: out)
        case .p0f: FlowStatsFormat.writeP0f(window, to: out)
        case .json:
            let flow = FlowKey(client: window.client, clientPort: 0, server: window.server, serverPort: window.serverPort)
            labels.write(
                type: "flowstats", kind: "metric", seconds: Int(window.start / 1_000_000), microseconds: Int(window.start % 1_000_000),
                flow: flow, scratch: scratch, to: out
            ) { out in
                FlowStatsFormat.writeJSON(window, labels: labels, to: out)
            }
        }
    }

    public func write(_ tls: TLSObservation, to out: TextBuffer) {
        switch format {
        case .text: TLSFormat.writeText(tls, to: out)
        case .p0f: TLSFormat.writeP0f(tls, to: out)
        case .json:
            labels.write(
                type: "tls", kind: "event", seconds: tls.seconds, microseconds: tls.microseconds,
                flow: FlowKey(tls.syn.fingerprint.segment), scratch: scratch, to: out
            ) { out in
                TLSFormat.writeJSON(tls, labels: labels, to: out)
            }
        }
    }

    /// The alert line for a flagged request: the `http` event's fields as `type: alert`, in the
    /// writer's schema, whatever the event format.
    public func writeAlert(_ request: JudgedRequest, source: StaticString = "capture", to out: TextBuffer) {
        RequestJSON.write(request, type: "alert", source: source, database: database, labels: labels, scratch: scratch, to: out)
    }

    private func renderPathWithoutHops(_ path: NetworkPath) -> TextBuffer {
        var key = path
        key.hops = nil
        let slot = ((path.mss ?? 0) &* 31 &+ (path.originalMSS ?? 0) &* 7 &+ (path.linkIndex ?? 0)) & (EventWriter.pathSlots - 1)
        if let cached = renderedPaths[slot], cached.path == key { return cached.text }
        let text = TextBuffer(capacity: 160)
        JSONFormat.writePathWithoutHops(path, database: database, to: text)
        renderedPaths[slot] = (key, text)
        return text
    }

    private func renderOS(_ c: Classification, _ database: Database) -> TextBuffer {
        let slot = c.answerID.magnitude % UInt(EventWriter.ringSize)  // a swapped tie has a negative id
        if let cached = renderedOS[Int(slot)], cached.answerID == c.answerID { return cached.text }
        let text = TextBuffer(capacity: 512)
        JSONFormat.writeOS(c, database: database, to: text)
        renderedOS[Int(slot)] = (c.answerID, text)
        return text
    }
}
