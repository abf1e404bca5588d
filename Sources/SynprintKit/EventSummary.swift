import Connections
import Decode
import FlowStats
import Formatting
import Foundation
import Match
import Synchronization
import Verdict

/// What a run saw, tallied on the output thread as events pass (array increments, no hashing
/// per SYN): OS classes of clients and of servers, OS names, links, verdict reasons and the
/// clients most often flagged. `--summary` prints it; the metrics and stats read its snapshots.
public final class EventSummary: @unchecked Sendable {
    /// Unchecked Sendable: `counts` is written by the output thread only; other threads read
    /// `snapshot`, which the output thread publishes under its lock.
    public struct Counts: Sendable {
        public var syns = 0
        public var synAcks = 0
        public var clientClasses = [Int](repeating: 0, count: OSClass.allCases.count)
        public var serverClasses = [Int](repeating: 0, count: OSClass.allCases.count)
        /// Per database entry (the best one of each client SYN), then one for none.
        public var names: [Int]
        /// Per link entry, then unlisted MTUs, then SYNs without an MSS.
        public var links: [Int]
        public var tunnels = 0
        public var clamped = 0
        public var requests = 0
        public var flagged = 0
        public var reasons = [Int](repeating: 0, count: VerdictReason.allCases.count)
        /// Flagged clients and how often (bounded: `flaggedClientsKept`).
        public var flaggedClients: [IPAddress: Int] = [:]
        public var events = 0
        /// Ended connections (`--connections`): by stage, per client OS class; by ending, tag,
        /// Fast Open and ECN state.
        public var connections = 0
        public var stagesByClass = [[Int]](
            repeating: [Int](repeating: 0, count: ConnectionStage.allCases.count), count: OSClass.allCases.count)
        public var endings = [Int](repeating: 0, count: ConnectionEnding.allCases.count)
        public var tags = [Int](repeating: 0, count: ConnectionTags.named.count)
        public var fastOpen = [Int](repeating: 0, count: FastOpenState.allCases.count)
        public var ecn = [Int](repeating: 0, count: ECNState.allCases.count)
        public var ecnBleached = 0
        /// Closed flow-statistics windows, those that met tunnel rules, and by rule.
        public var flowWindows = 0
        public var tunnelWindows = 0
        public var tunnelRules = [Int](repeating: 0, count: TunnelFlowRules.named.count)
        /// Fast Open and ECN states per client OS class.
        public var fastOpenByClass = [[Int]](
            repeating: [Int](repeating: 0, count: FastOpenState.allCases.count), count: OSClass.allCases.count)
        public var ecnByClass = [[Int]](repeating: [Int](repeating: 0, count: ECNState.allCases.count), count: OSClass.allCases.count)
        /// Client networks (/24 for IPv4, /48 for IPv6) in the order first seen, bounded:
        /// `networksKept`. Their stage counts are flat, `networkStages[i * stages + stage]`, so
        /// that publishing a snapshot copies no nested arrays.
        public var networkIndex: [IPAddress: Int] = [:]
        public var networks: [IPAddress] = []
        public var networkStages: [Int] = []
        /// Stages over the whole run, for charts.
        public var timeline = StageTimeline()
        /// The last `minutesKept` minutes of capture time, for the API's recent aggregates.
        public var recent: [MinuteCounts] = []

        /// Nothing counted yet, sized for `database`'s entries and links.
        public init(database: Database?) {
            names = [Int](repeating: 0, count: (database?.entries.count ?? 0) + 1)
            links = [Int](repeating: 0, count: (database?.links.count ?? 0) + 2)
        }

        public var stages: [Int] {
            stagesByClass.reduce(into: [Int](repeating: 0, count: ConnectionStage.allCases.count)) { sum, row in
                for (i, n) in row.enumerated() { sum[i] += n }
            }
        }
    }

    /// Ended connections of one minute of capture time.
    public struct MinuteCounts: Sendable {
        public var minute = 0
        public var connections = 0
        public var stages = [Int](repeating: 0, count: ConnectionStage.allCases.count)
        public var tags = [Int](repeating: 0, count: ConnectionTags.named.count)
        public var fastOpen = [Int](repeating: 0, count: FastOpenState.allCases.count)
        public var ecn = [Int](repeating: 0, count: ECNState.allCases.count)
    }

    public static let networksKept = 4096
    public static let minutesKept = 60

    /// Distinct flagged clients remembered for the top list.
    public static let flaggedClientsKept = 4096
    let database: Database?
    private var counts: Counts
    private let published: Mutex<Counts>

    public init(database: Database?) {
        self.database = database
        counts = Counts(database: database)
        published = Mutex(counts)
    }

    /// A summary of counts made elsewhere (the fleet store's report), to render them alike.
    public init(database: Database?, counts: Counts) {
        self.database = database
        self.counts = counts
        published = Mutex(counts)
    }

    /// The latest published counts.
    public var snapshot: Counts { published.withLock { $0 } }

    func count(_ syn: SynObservation) {
        counts.events += 1
        guard let c = syn.classification else {
            if syn.fingerprint.direction == .syn { counts.syns += 1 } else { counts.synAcks += 1 }
            return
        }
        if syn.fingerprint.direction == .synAck {
            counts.synAcks += 1
            counts.serverClasses[c.osClass.rawValue] += 1
            return
        }
        counts.syns += 1
        counts.clientClasses[c.osClass.rawValue] += 1
        counts.names[c.osClass != .unknown ? (c.bestEntryIndex ?? counts.names.count - 1) : counts.names.count - 1] += 1
        if let path = syn.path {
            counts.links[path.mtu == nil ? counts.links.count - 1 : (path.linkIndex ?? counts.links.count - 2)] += 1
            if path.tunnel { counts.tunnels += 1 }
            if path.clamped { counts.clamped += 1 }
        }
    }

    func count(_ c: FollowedConnection) {
        counts.events += 1
        counts.connections += 1
        counts.stagesByClass[c.osClass.rawValue][ConnectionStage.allCases.firstIndex(of: c.stage)!] += 1
        counts.endings[ConnectionEnding.allCases.firstIndex(of: c.ending)!] += 1
        let tags = c.tags
        for (i, named) in ConnectionTags.named.enumerated() where tags.contains(named.0) { counts.tags[i] += 1 }
        let fastOpen = FastOpenState.allCases.firstIndex(of: c.fastOpen)!
        let ecn = ECNState.allCases.firstIndex(of: c.ecn)!
        counts.fastOpen[fastOpen] += 1
        counts.ecn[ecn] += 1
        counts.fastOpenByClass[c.osClass.rawValue][fastOpen] += 1
        counts.ecnByClass[c.osClass.rawValue][ecn] += 1
        if c.ecnBleached { counts.ecnBleached += 1 }
        let stage = ConnectionStage.allCases.firstIndex(of: c.stage)!
        let stageCount = ConnectionStage.allCases.count
        let network = c.key.client.clientNetwork
        if let i = counts.networkIndex[network] {
            counts.networkStages[i * stageCount + stage] += 1
        } else if counts.networks.count < EventSummary.networksKept {
            counts.networkIndex[network] = counts.networks.count
            counts.networks.append(network)
            counts.networkStages.append(contentsOf: repeatElement(0, count: stageCount))
            counts.networkStages[counts.networkStages.count - stageCount + stage] += 1
        }
        counts.timeline.add(stage: stage, at: c.last / 1_000_000)
        let minute = Int(c.last / 60_000_000)
        if counts.recent.last?.minute != minute {
            counts.recent.append(MinuteCounts(minute: minute))
            if counts.recent.count > EventSummary.minutesKept { counts.recent.removeFirst() }
        }
        let last = counts.recent.count - 1
        counts.recent[last].connections += 1
        counts.recent[last].stages[stage] += 1
        for (i, named) in ConnectionTags.named.enumerated() where tags.contains(named.0) { counts.recent[last].tags[i] += 1 }
        counts.recent[last].fastOpen[FastOpenState.allCases.firstIndex(of: c.fastOpen)!] += 1
        counts.recent[last].ecn[ECNState.allCases.firstIndex(of: c.ecn)!] += 1
    }

    /// Networks with at least `minimum` connections, by their share of connections that ended at
    /// `stage`, highest first.
    public func topNetworks(_ counts: Counts, by stage: ConnectionStage, minimum: Int = 10, top: Int = 10) -> [(String, Int, Double)] {
        let index = ConnectionStage.allCases.firstIndex(of: stage)!
        return counts.networks.indices.compactMap { i -> (Int, Int, Double)? in
            let row = stageCounts(counts, network: i)
            let total = row.reduce(0, +)
            guard total >= minimum, row[index] > 0 else { return nil }
            return (i, total, Double(row[index]) / Double(total))
        }
        .sorted { $0.2 != $1.2 ? $0.2 > $1.2 : $0.1 > $1.1 }
        .prefix(top)
        .map { (EventSummary.networkName(counts.networks[$0.0]), $0.1, $0.2) }
    }

    /// The networks with the most connections, with their stage counts.
    public func busiestNetworks(_ counts: Counts, top: Int) -> [(name: String, stages: [Int])] {
        counts.networks.indices.map { (i: $0, stages: stageCounts(counts, network: $0)) }
            .sorted { $0.stages.reduce(0, +) > $1.stages.reduce(0, +) }
            .prefix(top)
            .map { (EventSummary.networkName(counts.networks[$0.i]), $0.stages) }
    }

    func stageCounts(_ counts: Counts, network i: Int) -> [Int] {
        let n = ConnectionStage.allCases.count
        return Array(counts.networkStages[i * n..<(i + 1) * n])
    }

    /// `192.0.2.0/24`, `2001:db8:1::/48`.
    static func networkName(_ network: IPAddress) -> String {
        let text = TextBuffer(capacity: 48)
        text.append(network: network)
        return text.string
    }

    /// Per client OS class with connections: how many, and the shares that used Fast Open
    /// (any state but none), asked for ECN, and negotiated it.
    public func adoption(
        _ counts: Counts
    ) -> [(osClass: OSClass, connections: Int, fastOpen: Double, ecnAsked: Double, ecnNegotiated: Double)] {
        OSClass.allCases.compactMap { osClass in
            let fastOpen = counts.fastOpenByClass[osClass.rawValue]
            let ecn = counts.ecnByClass[osClass.rawValue]
            let total = fastOpen.reduce(0, +)
            guard total > 0 else { return nil }
            let noFastOpen = fastOpen[FastOpenState.allCases.firstIndex(of: .none)!]
            let notAsked = ecn[ECNState.allCases.firstIndex(of: .notRequested)!]
            let refused = ecn[ECNState.allCases.firstIndex(of: .refused)!]
            return (
                osClass, total, Double(total - noFastOpen) / Double(total), Double(total - notAsked) / Double(total),
                Double(total - notAsked - refused) / Double(total)
            )
        }
    }

    /// Connection aggregates of the last `minutes` minutes of capture time, as JSON (the API's
    /// `/v1/connections/stats`).
    public func recentConnectionsJSON(minutes: Int) -> String {
        let c = snapshot
        let newest = c.recent.last?.minute ?? 0
        var total = MinuteCounts()
        for bucket in c.recent where bucket.minute > newest - minutes {
            total.connections += bucket.connections
            for i in total.stages.indices { total.stages[i] += bucket.stages[i] }
            for i in total.tags.indices { total.tags[i] += bucket.tags[i] }
            for i in total.fastOpen.indices { total.fastOpen[i] += bucket.fastOpen[i] }
            for i in total.ecn.indices { total.ecn[i] += bucket.ecn[i] }
        }
        let out = TextBuffer(capacity: 1024)
        func object(_ rows: [(String, Int)]) { EventSummary.appendObject(rows, to: out) }
        out.append("{\"minutes\":"); out.append(minutes)
        out.append(",\"connections\":"); out.append(total.connections)
        out.append(",\"stages\":"); object(named(ConnectionStage.allCases.map(\.rawValue), total.stages))
        out.append(",\"tags\":"); object(named(ConnectionTags.named.map(\.1), total.tags))
        out.append(",\"tfo\":"); object(named(FastOpenState.allCases.map(\.rawValue), total.fastOpen))
        out.append(",\"ecn\":"); object(named(ECNState.allCases.map(\.rawValue), total.ecn))
        out.append(ascii: "}")
        return out.string
    }

    func count(_ w: FlowWindow) {
        counts.events += 1
        counts.flowWindows += 1
        guard !w.rules.isEmpty else { return }
        counts.tunnelWindows += 1
        for (i, named) in TunnelFlowRules.named.enumerated() where w.rules.contains(named.0) { counts.tunnelRules[i] += 1 }
    }

    func count(_ request: JudgedRequest) {
        counts.events += 1
        counts.requests += 1
        for reason in request.verdict.reasons { counts.reasons[VerdictReason.allCases.firstIndex(of: reason)!] += 1 }
        guard request.verdict.flagged else { return }
        counts.flagged += 1
        let client = request.observation.syn.fingerprint.ip.source
        if counts.flaggedClients[client] != nil || counts.flaggedClients.count < EventSummary.flaggedClientsKept {
            counts.flaggedClients[client, default: 0] += 1
        }
    }

    /// Every 4096 events (and whenever the output is idle) the counts are published.
    var snapshotDue: Bool { counts.events & 0xFFF == 0 }

    /// Makes the counts so far visible to other threads.
    public func publish() {
        published.withLock { $0 = counts }
    }

    // MARK: rendering

    /// Shares of each value, largest first, as `(name, count)`.
    public func classMix(_ values: [Int]) -> [(String, Int)] {
        OSClass.allCases.map { ($0.name, values[$0.rawValue]) }.filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }
    }

    /// Entries that share a label (variants of one stack) count together.
    public func nameMix(_ counts: Counts, top: Int = 10) -> [(String, Int)] {
        let labels = database?.entries.map(\.label) ?? []
        let byLabel = counts.names.enumerated().filter { $0.element > 0 }.reduce(into: [String: Int]()) { all, named in
            all[named.offset < labels.count ? labels[named.offset] : "unknown", default: 0] += named.element
        }
        return byLabel.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(top).map { ($0.key, $0.value) }
    }

    public func linkMix(_ counts: Counts) -> [(String, Int)] {
        counts.links.enumerated().filter { $0.element > 0 }.map { index, n in
            let links = database?.links ?? []
            let name = index < links.count ? "\(links[index].link) (\(links[index].mtu))" : index == links.count ? "unlisted MTU" : "no MSS"
            return (name, n)
        }.sorted { $0.1 > $1.1 }
    }

    public func reasonMix(_ counts: Counts) -> [(String, Int)] {
        VerdictReason.allCases.enumerated().map { ($1.rawValue, counts.reasons[$0]) }.filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }
    }

    public func topFlagged(_ counts: Counts, top: Int = 10) -> [(String, Int)] {
        counts.flaggedClients.sorted { $0.value != $1.value ? $0.value > $1.value : ($0.key.high, $0.key.low) < ($1.key.high, $1.key.low) }
            .prefix(top).map { address, n in
                let text = TextBuffer(capacity: 48)
                text.append(ip: address)
                return (text.string, n)
            }
    }

    /// The overview a person reads at the end of a run.
    public func text() -> String {
        let c = snapshot
        func section(_ title: String, _ rows: [(String, Int)], of total: Int) -> [String] {
            guard !rows.isEmpty else { return [] }
            return ["\(title):"]
                + rows.map { name, n in
                    let share = total > 0 ? String(format: "%5.1f %%", Double(n) * 100 / Double(total)) : ""
                    return
                        "  \(name.padding(toLength: max(name.count, 36), withPad: " ", startingAt: 0)) \(String(n).leftPadded(8))  \(share)"
                }
        }
        var lines = ["summary: \(c.syns) client SYNs, \(c.synAcks) server SYN+ACKs, \(c.requests) requests judged, \(c.flagged) flagged"]
        lines += section("client OS classes", classMix(c.clientClasses), of: c.syns)
        lines += section("top client OS names", nameMix(c), of: c.syns)
        lines += section("links", linkMix(c), of: c.syns)
        if c.tunnels + c.clamped > 0 { lines.append("  tunnel MTUs \(c.tunnels), clamped MSS \(c.clamped)") }
        lines += section("verdict reasons", reasonMix(c), of: c.requests)
        lines += section("most flagged clients", topFlagged(c), of: c.flagged)
        lines += section("server OS classes (SYN+ACK)", classMix(c.serverClasses), of: c.synAcks)
        if c.flowWindows > 0 {
            lines.append("flow statistics: \(c.flowWindows) client windows, \(c.tunnelWindows) met tunnel rules")
            lines += section("tunnel rules", named(TunnelFlowRules.named.map(\.1), c.tunnelRules), of: c.flowWindows)
        }
        if c.connections > 0 {
            lines.append("connections: \(c.connections) ended")
            lines += section("stages", named(ConnectionStage.allCases.map(\.rawValue), c.stages), of: c.connections)
            for osClass in OSClass.allCases where c.stagesByClass[osClass.rawValue].contains(where: { $0 > 0 }) {
                let row = c.stagesByClass[osClass.rawValue]
                let total = row.reduce(0, +)
                let shares = zip(ConnectionStage.allCases, row).filter { $0.1 > 0 }.map {
                    "\($0.0.rawValue) \(String(format: "%.1f", Double($0.1) * 100 / Double(total)))%"
                }
                lines.append("  \(osClass.name) (\(total)): \(shares.joined(separator: ", "))")
            }
            lines += section("endings", named(ConnectionEnding.allCases.map(\.rawValue), c.endings), of: c.connections)
            lines += section("tags", named(ConnectionTags.named.map(\.1), c.tags), of: c.connections)
            lines += section("TCP Fast Open", named(FastOpenState.allCases.map(\.rawValue), c.fastOpen), of: c.connections)
            lines += section("ECN", named(ECNState.allCases.map(\.rawValue), c.ecn), of: c.connections)
            if c.ecnBleached > 0 { lines.append("  ECN marks cleared on the path: \(c.ecnBleached)") }
            lines.append("Fast Open and ECN by client OS class (share of its connections):")
            for row in adoption(c) {
                let name = "\(row.osClass.name) (\(row.connections))"
                lines.append(
                    "  \(name.padding(toLength: max(name.count, 36), withPad: " ", startingAt: 0)) Fast Open \(percent(row.fastOpen)), "
                        + "ECN asked \(percent(row.ecnAsked)), negotiated \(percent(row.ecnNegotiated))")
            }
            for stage in [ConnectionStage.postACK, .postPSH] {
                let rows = topNetworks(c, by: stage)
                guard !rows.isEmpty else { continue }
                lines.append("networks with the most \(stage.rawValue) (10 connections or more):")
                lines += rows.map {
                    "  \($0.0.padding(toLength: 36, withPad: " ", startingAt: 0)) \(String($0.1).leftPadded(8))  \(String(format: "%5.1f %%", $0.2 * 100))"
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    /// `{"name":count,…}` in the order given.
    static func appendObject(_ rows: [(String, Int)], to out: TextBuffer) {
        out.append(ascii: "{")
        for (i, row) in rows.enumerated() {
            if i > 0 { out.append(ascii: ",") }
            out.appendJSONString(row.0); out.append(ascii: ":"); out.append(row.1)
        }
        out.append(ascii: "}")
    }

    /// Non-zero counts with their names, largest first.
    func named(_ names: [String], _ values: [Int]) -> [(String, Int)] {
        zip(names, values).filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }
    }

    /// The same as one JSON object, for machines.
    public func json() -> String {
        let c = snapshot
        let out = TextBuffer(capacity: 4096)
        func object(_ rows: [(String, Int)]) { EventSummary.appendObject(rows, to: out) }
        out.append("{\"type\":\"summary\",\"syns\":"); out.append(c.syns)
        out.append(",\"synacks\":"); out.append(c.synAcks)
        out.append(",\"requests\":"); out.append(c.requests)
        out.append(",\"flagged\":"); out.append(c.flagged)
        out.append(",\"client_classes\":"); object(classMix(c.clientClasses))
        out.append(",\"client_names\":"); object(nameMix(c, top: 50))
        out.append(",\"links\":"); object(linkMix(c))
        out.append(",\"tunnels\":"); out.append(c.tunnels)
        out.append(",\"clamped\":"); out.append(c.clamped)
        out.append(",\"verdict_reasons\":"); object(reasonMix(c))
        out.append(",\"flagged_clients\":"); object(topFlagged(c, top: 50))
        out.append(",\"server_classes\":"); object(classMix(c.serverClasses))
        if c.flowWindows > 0 {
            out.append(",\"flow_windows\":"); out.append(c.flowWindows)
            out.append(",\"tunnel_windows\":"); out.append(c.tunnelWindows)
            out.append(",\"tunnel_rules\":"); object(named(TunnelFlowRules.named.map(\.1), c.tunnelRules))
        }
        if c.connections > 0 {
            out.append(",\"connections\":{\"ended\":"); out.append(c.connections)
            out.append(",\"stages\":"); object(named(ConnectionStage.allCases.map(\.rawValue), c.stages))
            out.append(",\"stages_by_class\":{")
            var first = true
            for osClass in OSClass.allCases where c.stagesByClass[osClass.rawValue].contains(where: { $0 > 0 }) {
                if !first { out.append(ascii: ",") }
                first = false
                out.appendJSONString(osClass.name); out.append(ascii: ":")
                object(named(ConnectionStage.allCases.map(\.rawValue), c.stagesByClass[osClass.rawValue]))
            }
            out.append("},\"endings\":"); object(named(ConnectionEnding.allCases.map(\.rawValue), c.endings))
            out.append(",\"tags\":"); object(named(ConnectionTags.named.map(\.1), c.tags))
            out.append(",\"tfo\":"); object(named(FastOpenState.allCases.map(\.rawValue), c.fastOpen))
            out.append(",\"ecn\":"); object(named(ECNState.allCases.map(\.rawValue), c.ecn))
            out.append(",\"ecn_bleached\":"); out.append(c.ecnBleached)
            out.append(",\"adoption_by_class\":{")
            for (i, row) in adoption(c).enumerated() {
                if i > 0 { out.append(ascii: ",") }
                out.appendJSONString(row.osClass.name)
                out.append(":{\"connections\":"); out.append(row.connections)
                out.append(",\"tfo\":"); out.append(fraction: Float(row.fastOpen))
                out.append(",\"ecn_asked\":"); out.append(fraction: Float(row.ecnAsked))
                out.append(",\"ecn_negotiated\":"); out.append(fraction: Float(row.ecnNegotiated))
                out.append(ascii: "}")
            }
            out.append(ascii: "}")
            for (key, stage) in [("top_post_ack_networks", ConnectionStage.postACK), ("top_post_psh_networks", .postPSH)] {
                out.append(",\""); out.append(string: key); out.append("\":[")
                for (i, row) in topNetworks(c, by: stage).enumerated() {
                    if i > 0 { out.append(ascii: ",") }
                    out.append("{\"network\":"); out.appendJSONString(row.0)
                    out.append(",\"connections\":"); out.append(row.1)
                    out.append(",\"share\":"); out.append(fraction: Float(row.2))
                    out.append(ascii: "}")
                }
                out.append(ascii: "]")
            }
            out.append(ascii: "}")
        }
        out.append(ascii: "}")
        return out.string
    }
}

func percent(_ share: Double) -> String { String(format: "%.1f %%", share * 100) }

extension String {
    func leftPadded(_ width: Int) -> String {
        String(repeating: " ", count: max(0, width - count)) + self
    }
}
