import Features
import Formatting
import Learn
import Match
import Synchronization
import Verdict

/// `--learn FILE`: labelled observations from the live sensor (HTTP in the capture and API
/// checks), one single-count learned entry per line in the database schema, for
/// `synprint db build --learned FILE` to merge later. The build's exclusions apply here too.
public final class ObservationLog: Sendable {
    public let log: LineLog
    private let rules = ExclusionRules()
    private let tally = Mutex<(recorded: Int, excluded: [Exclusion: Int])>((0, [:]))

    public init(path: String) throws {
        log = try LineLog(path: path, header: "{\"synprint_db\": \(Database.schemaVersion)}")
    }

    /// `label` is what the request claims (the verdict's `ua_os`).
    public func record(_ syn: SynObservation, _ request: HTTPRequestHead, label: ClaimedOS?, source: String) {
        switch ObservationLog.line(syn, request, label: label, source: source, rules: rules) {
        case .failure(let reason):
            tally.withLock { $0.excluded[reason, default: 0] += 1 }
        case .success(let line):
            log.write(line + "\n")
            tally.withLock { $0.recorded += 1 }
        }
    }

    /// The learned entry a labelled SYN makes, without id, counts or times: the fleet store
    /// keeps it in the `http` row (one per key and class, so a sensor renders it once), and
    /// `db build --clickhouse` adds the rows of each up into one entry.
    public static func template(_ syn: SynObservation, label: OSClass) -> String {
        var entry = LearnKey(syn.fingerprint).entry(counts: [label: 1], firstSeen: nil, lastSeen: nil, source: "synprint fleet store")
        entry.id = ""
        entry.counts = [:]
        return EntryWriter.line(entry)
    }

    /// One labelled observation as a single-count learned entry (a database line), or why the
    /// build's exclusions leave it out.
    public static func line(
        _ syn: SynObservation, _ request: HTTPRequestHead, label: ClaimedOS?, source: String, rules: ExclusionRules
    ) -> Result<String, Exclusion> {
        if let reason = rules.exclusion(syn.fingerprint, label: label, userAgent: request.userAgent, classification: syn.classification) {
            return .failure(reason)
        }
        let time = TextBuffer(capacity: 32)
        time.appendTimestamp(seconds: syn.seconds, microseconds: syn.microseconds)
        var entry = LearnKey(syn.fingerprint).entry(
            counts: [label!.osClass!: 1], firstSeen: time.string, lastSeen: time.string,
            source: "learn \(source): \(request.userAgent ?? request.platformHint ?? "")")
        let id = TextBuffer(capacity: 64)
        id.append("obs-"); id.append(syn.seconds); id.append(ascii: "."); id.append(syn.microseconds, width: 6)
        id.append(ascii: "-"); id.append(ip: syn.fingerprint.ip.source); id.append(ascii: "-");
        id.append(syn.fingerprint.segment.sourcePort)
        entry.id = id.string
        return .success(EntryWriter.line(entry))
    }

    public var summary: String {
        tally.withLock { t in
            let reasons = Exclusion.allCases.compactMap { r in t.excluded[r].map { "\(r.rawValue) \($0)" } }
            return "  learn: \(t.recorded) observations recorded; excluded: \(reasons.isEmpty ? "none" : reasons.joined(separator: ", "))"
        }
    }
}
