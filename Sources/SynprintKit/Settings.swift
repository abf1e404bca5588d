import Match
import Verdict

/// Every setting one may want to change, in one place with its default and the reason for it
/// (the role p0f's `config.h` plays). The command line overrides them (`synprint --help`); a
/// program embedding the sensor sets them directly. The matcher's weights and the verdict
/// rules are settings too, documented where they are defined (`MatchWeights`, `VerdictRules`).
public struct Settings: Sendable {
    // MARK: Matching

    /// The matcher's per-field weights and thresholds (`--weight NAME=VALUE`).
    public var matchWeights = MatchWeights()
    /// Answers remembered per distinct feature set. Real traffic repeats a few hundred feature
    /// sets; random ones (a flood with random windows) cost a scoring of one layout bucket each.
    public var matchCacheEntries = 65_536

    // MARK: Connections and hosts (--http, the APIs)

    /// Connections followed from their SYN to their first request (`--max-flows`). The oldest
    /// goes first when the table is full.
    public var maxFlows = 65_536
    /// Seconds a connection may wait for its first request before it is forgotten: browsers
    /// send it within a round trip; 60 s covers slow clients and idle pre-connects.
    public var requestTimeout = 60
    /// Client addresses whose history is kept (`--max-hosts`).
    public var maxHosts = 16_384
    /// Seconds within which two different confident stacks from one address count as shared
    /// use (NAT, proxy, shared VPN exit); p0f looks back a few minutes too.
    public var sharingWindow = 600

    /// The verdict weights, threshold, confidence gate and level (`--verdict-rule`, `--alert-threshold`).
    public var verdictRules = VerdictRules()

    // MARK: Output thread

    /// Events handed from the capture thread to the output thread per lock round.
    public var outputBatchSize = 256
    /// Batches that may wait: a slow output then holds the capture back instead of growing memory.
    public var outputBatchesWaiting = 8

    // MARK: Files

    /// The database file's name, looked for through `$SYNPRINT_DB`, beside the executable (and
    /// in its parent folders: a source checkout), then in these folders.
    public static let databaseFileName = "synprint.db.jsonl"
    public static let databaseFolders = ["/usr/local/share/synprint", "/usr/share/synprint"]

    public init() {}
}
