import Connections
import FlowStats
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

    /// Connections awaiting their first request, from their SYN on (`--max-awaiting`). The oldest
    /// goes first when the table is full.
    public var maxAwaiting = 65_536
    /// Seconds a connection may wait for its first request before it is forgotten: browsers
    /// send it within a round trip; 60 s covers slow clients and idle pre-connects.
    public var requestTimeout = 60

    // MARK: Connection records (`--connections`)

    /// Connections followed to their end at once (`--max-connections`), fewer when the memory
    /// budget says so; half for open handshakes, half for connected ones.
    public var maxConnections = 65_536
    /// Seconds without a packet after which a connection is written as timed out
    /// (`--connection-timeout`); Linux gives up on an unanswered SYN after about two minutes.
    public var connectionTimeout = 120
    /// The longest time any option takes (`--connection-timeout`, `--flow-window-seconds`,
    /// `--label-window`): a year. Longer means nothing to a sensor, and capture times in
    /// microseconds stay far from overflowing.
    public static let longestSeconds = 31_536_000

    // MARK: Flow statistics (`--flow-stats`)

    /// A client's window closes after this many packets (`--flow-window-packets`) or seconds
    /// (`--flow-window-seconds`), whichever comes first.
    public var flowWindowPackets = 500
    public var flowWindowSeconds = 30
    /// Clients and connections followed at once, fewer when the memory budget says so.
    public var maxFlowClients = 16_384
    public var flowClientCapacity: Int {
        max(1, min(maxFlowClients, memcap / 100 * MemoryShares.flowStatistics / 2 / FlowStatistics.bytesPerClient))
    }
    public var flowConnectionCapacity: Int {
        max(1, min(4 * maxFlowClients, memcap / 100 * MemoryShares.flowStatistics / 2 / FlowStatistics.bytesPerConnection))
    }
    /// Client addresses whose history is kept (`--max-hosts`). Hosts without evidence of a
    /// handshake go first, so a spoofed flood cannot push out real clients.
    public var maxHosts = 16_384
    /// Seconds within which two different confident stacks from one address count as shared
    /// use (NAT, proxy, shared VPN exit); p0f looks back a few minutes too.
    public var sharingWindow = 600
    /// Seconds a host's evidence (a handshake completed, a request sent) protects it from
    /// eviction after its last SYN.
    public var evidenceLifetime = 3600

    /// The verdict weights, threshold, confidence gate and level (`--verdict-rule`, `--alert-threshold`).
    public var verdictRules = VerdictRules()

    // MARK: Learning

    /// Seconds between a timed row of a labels file and the SYN it labels (`db build --labels`,
    /// `--label-window`): clocks of log and capture differ by a few seconds, sessions by minutes.
    public var labelTolerance = 300

    // MARK: Alerts

    /// At most this many alerts per client address per `alertWindow` seconds, and this many per
    /// second in all; the rest are counted as suppressed (Suricata's threshold/limit by source).
    public var alertsPerHost = 10
    public var alertWindow = 60
    public var alertsPerSecond = 100

    // MARK: Memory

    /// The byte budget for everything that grows with traffic (`--memcap`), split between the
    /// tables in `MemoryShares`. `maxAwaiting`, `maxHosts` and `matchCacheEntries` cap the entries
    /// further. The defaults keep the floods of the robustness suite under 256 MiB of RSS.
    public var memcap = 128 << 20

    /// Shares of `memcap` in percent: the connection table, the unfinished request heads it
    /// buffers, the host table, its interned request text, the matcher's answer cache, the flow
    /// statistics' tables, the ClientHellos they read across segments, and the workers' routes of
    /// connections opened from the lower port.
    public enum MemoryShares {
        public static let connections = 30
        public static let requestHeads = 9
        public static let hosts = 32
        public static let connectionRecords = 5
        public static let strings = 8
        public static let matchCache = 9
        public static let flowStatistics = 3
        public static let clientHellos = 1
        public static let routes = 3
    }

    public var headBudget: Int { memcap / 100 * MemoryShares.requestHeads }
    public var helloBudget: Int { memcap / 100 * MemoryShares.clientHellos }
    public var stringBudget: Int { memcap / 100 * MemoryShares.strings }
    /// Connections awaiting a request at once: `maxAwaiting`, or fewer when their bytes would pass the budget.
    public var awaitingCapacity: Int {
        max(1, min(maxAwaiting, memcap / 100 * MemoryShares.connections / ConnectionTracker.bytesPerConnection))
    }
    /// Connection records (`--connections`): `maxConnections`, or fewer within their share.
    public var connectionRecordCapacity: Int {
        max(2, min(maxConnections, memcap / 100 * MemoryShares.connectionRecords / ConnectionFollower.bytesPerRecord))
    }
    public var hostCapacity: Int { max(1, min(maxHosts, memcap / 100 * MemoryShares.hosts / HostTable.bytesPerHost)) }
    /// Connections opened from the lower port whose worker the capture thread remembers
    /// (`--workers`): as many as the pipelines follow at once, fewer within their share.
    public var routeCapacity: Int {
        max(1, min(max(maxAwaiting, maxConnections, 4 * maxFlowClients), memcap / 100 * MemoryShares.routes / Workers.bytesPerRoute))
    }
    public var matchCacheCapacity: Int {
        max(2, min(matchCacheEntries, memcap / 100 * MemoryShares.matchCache / Matcher.bytesPerCachedAnswer))
    }

    // MARK: Output thread

    /// Events handed from the capture thread to the output thread per lock round.
    public var outputBatchSize = 256
    /// Batches that may wait: a slow output then holds the capture back instead of growing memory.
    public var outputBatchesWaiting = 8
    /// A live capture hands over a batch once its oldest event is this old (seconds), so a reader
    /// sees events promptly without a lock round per event.
    public var liveFlushInterval = 0.05

    // MARK: Workers (`--workers`)

    /// Packets the capture thread hands out per round, over all workers: one lock round per
    /// worker per round, and the longest the merge of their events waits for one worker.
    public var workerRoundPackets = 2048
    /// Rounds that may wait per worker: a slow worker then holds the capture back.
    public var workerRoundsWaiting = 4

    /// One worker's settings when `workers` pipelines run side by side: the tables each
    /// pipeline owns get their part of the entries and bytes. The host table, one on the output
    /// thread, keeps the whole sizes.
    public func share(of workers: Int) -> Settings {
        guard workers > 1 else { return self }
        var share = self
        share.memcap = memcap / workers
        share.maxAwaiting = max(1, maxAwaiting / workers)
        share.maxConnections = max(2, maxConnections / workers)
        share.maxFlowClients = max(1, maxFlowClients / workers)
        share.matchCacheEntries = max(2, matchCacheEntries / workers)
        return share
    }

    // MARK: Files

    /// The database file's name, looked for through `$SYNPRINT_DB`, beside the executable (and
    /// in its parent folders: a source checkout), then in these folders.
    public static let databaseFileName = "synprint.db.jsonl"
    public static let databaseFolders = ["/usr/local/share/synprint", "/usr/share/synprint"]

    public init() {}
}
