import Connections
import Decode
import FlowStats
import Formatting
import Foundation
import Learn
import Match
import SynprintKit
import Verdict

/// `synprint report --clickhouse`: the run summary's counts computed in ClickHouse from the
/// rows of every sensor (or the chosen ones), so that they print, chart and compare as those
/// of `synprint report CAPTURE…`. Every count is one `GROUP BY` in the store; only the
/// groups travel (docs/FLEET.md; the SQL is in deploy/clickhouse/queries/).
public struct StoreReport {
    /// Which rows: newer than `since` seconds, from one sensor, from clients in one network.
    public struct Scope: Sendable {
        public var since: Int?
        public var sensor: String?
        public var network: (address: IPAddress, bits: Int)?
        public init(since: Int? = nil, sensor: String? = nil, network: (address: IPAddress, bits: Int)? = nil) {
            self.since = since
            self.sensor = sensor
            self.network = network
        }
    }

    let client: StoreClient
    let scope: Scope
    let database: Database

    public init(client: StoreClient, scope: Scope, database: Database) {
        self.client = client
        self.scope = scope
        self.database = database
    }

    /// `192.0.2.0/24` or `2001:db8::/32`: an address and a prefix length within it.
    public static func network(_ text: String) -> (address: IPAddress, bits: Int)? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(String(parts[0])), let bits = Int(parts[1]), bits >= 0,
            bits <= (address.isV6 ? 128 : 32)
        else { return nil }
        return (address, bits)
    }

    /// The longest `--since`: a hundred years (ClickHouse's `now() - N` wraps for large N).
    static let longestDuration = 36_500 * 86_400

    /// `15m`, `24h`, `7d`, `3600` (seconds), at most `longestDuration`.
    public static func duration(_ text: String) -> Int? {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var digits = Substring(text)
        var unit = 1
        if let last = digits.last, let multiplier = units[last] {
            unit = multiplier
            digits = digits.dropLast()
        }
        guard let value = Int(digits), value > 0 else { return nil }
        let (seconds, overflow) = value.multipliedReportingOverflow(by: unit)
        return overflow || seconds > longestDuration ? nil : seconds
    }

    /// The `WHERE` clause for a table whose client address is in `clientColumn`.
    func condition(client clientColumn: String) -> String {
        var terms = ["1"]
        if let since = scope.since { terms.append("ts >= now() - \(since)") }
        if let sensor = scope.sensor { terms.append("sensor = \(StoreReport.literal(sensor))") }
        if let (address, bits) = scope.network {
            if address.isV6 {
                let bytes = "IPv6StringToNum(\(clientColumn))"
                let high = "reinterpretAsUInt64(reverse(substring(\(bytes), 1, 8)))"
                let low = "reinterpretAsUInt64(reverse(substring(\(bytes), 9, 8)))"
                terms.append("position(\(clientColumn), ':') > 0")
                if bits > 0 {
                    let highBits = min(bits, 64)
                    terms.append("bitShiftRight(\(high), \(64 - highBits)) = \(highBits == 0 ? 0 : address.high >> UInt64(64 - highBits))")
                }
                if bits > 64 { terms.append("bitShiftRight(\(low), \(128 - bits)) = \(address.low >> UInt64(128 - bits))") }
            } else {
                terms.append("position(\(clientColumn), ':') = 0")
                if bits > 0 {
                    terms.append("bitShiftRight(IPv4StringToNum(\(clientColumn)), \(32 - bits)) = \(address.v4 >> UInt32(32 - bits))")
                }
            }
        }
        return terms.joined(separator: " AND ")
    }

    /// A string literal in ClickHouse's SQL.
    static func literal(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }

    /// The report's queries, each over one table's rows in scope; `scope` gives the `WHERE`
    /// clause for the column that holds the client's address.
    public enum Query: String, CaseIterable, Sendable {
        case clientSyns = "client-syns", serverSynAcks = "server-synacks", requests, reasons, flaggedClients = "flagged-clients"
        case windows, tunnelRules = "tunnel-rules", connections, networkStages = "network-stages"
        case firstConnection = "first-connection", timeline
        /// `db build --clickhouse`: the labelled SYNs the sensors kept, as learned-entry lines,
        /// and how many the build's rules left out, by rule; with `--tls`, the ClientHellos of
        /// the connections web applications checked, with the User-Agent each check saw.
        case observations, exclusions
        case checkedHellos = "checked-hellos"

        /// Rows in the order a run emitted them: by the run's start and the event's position
        /// in it (the two numbers that end `event_id`).
        static let order = "(toUInt64(splitByChar('-', event_id)[-2]), toUInt64(splitByChar('-', event_id)[-1]))"

        public func sql(scope: (String) -> String) -> String {
            let clients = scope("src_ip")
            switch self {
            case .clientSyns:
                return """
                    SELECT os_class, os_name, os_flavor, path_link, path_mtu, sum(path_tunnel * weight), sum(path_clamped * weight), sum(weight)
                    FROM syn WHERE \(clients) GROUP BY os_class, os_name, os_flavor, path_link, path_mtu
                    """
            case .serverSynAcks: return "SELECT os_class, sum(weight) FROM synack WHERE \(scope("dst_ip")) GROUP BY os_class"
            case .requests: return "SELECT sum(weight), sum(flagged * weight) FROM http WHERE \(clients)"
            case .reasons: return "SELECT arrayJoin(reasons) AS reason, sum(weight) FROM http WHERE \(clients) GROUP BY reason"
            case .flaggedClients:
                return """
                    SELECT src_ip, sum(weight) AS requests FROM http WHERE \(clients) AND flagged GROUP BY src_ip
                    ORDER BY requests DESC LIMIT \(EventSummary.flaggedClientsKept)
                    """
            case .windows: return "SELECT count(), countIf(notEmpty(tunnel_rules)) FROM flowstats WHERE \(clients)"
            case .tunnelRules: return "SELECT arrayJoin(tunnel_rules) AS rule, count() FROM flowstats WHERE \(clients) GROUP BY rule"
            case .connections:
                return """
                    SELECT os_class, stage, ending, arrayStringConcat(tags, ','), tfo, ecn, sum(ecn_bleached * weight), sum(weight)
                    FROM conn WHERE \(clients) GROUP BY os_class, stage, ending, tags, tfo, ecn
                    """
            case .networkStages:
                // In the order each network's first connection ended, as a run counts them.
                return """
                    SELECT client_net, stage, sum(weight), min(\(Query.order)) AS first
                    FROM conn WHERE \(clients) GROUP BY client_net, stage ORDER BY first
                    """
            case .firstConnection:
                return "SELECT toUInt32(end_ts), stage FROM conn WHERE \(clients) ORDER BY \(Query.order) LIMIT 1"
            case .timeline:
                return "SELECT toUInt32(end_ts), stage, sum(weight) FROM conn WHERE \(clients) GROUP BY end_ts, stage ORDER BY end_ts"
            case .observations:
                return """
                    SELECT observation, any(ua_class), count(), toUInt32(min(syn_ts)), toUInt32(max(syn_ts))
                    FROM http WHERE \(clients) AND observation != '' GROUP BY observation ORDER BY observation
                    """
            case .exclusions:
                return "SELECT excluded, count() FROM http WHERE \(clients) AND excluded != '' GROUP BY excluded ORDER BY excluded"
            case .checkedHellos:
                return """
                    SELECT checked_user_agent, cipher_codes, extension_codes, group_codes, grease, alpn FROM tls
                    ALL INNER JOIN (SELECT sensor, src_ip, src_port, any(user_agent) AS checked_user_agent FROM http
                    WHERE source = 'api' AND user_agent != '' GROUP BY sensor, src_ip, src_port) AS checks USING (sensor, src_ip, src_port)
                    WHERE \(clients) AND complete = 1
                    """
            }
        }

        /// The columns each row of the answer has.
        var columns: Int {
            switch self {
            case .clientSyns, .connections: 8
            case .checkedHellos: 6
            case .observations: 5
            case .networkStages: 4
            case .timeline: 3
            case .serverSynAcks, .requests, .reasons, .flaggedClients, .windows, .tunnelRules, .firstConnection, .exclusions: 2
            }
        }

        /// The columns that hold counts or times, each at most `largestCount` in an answer.
        var numbers: [Int] {
            switch self {
            case .clientSyns: [5, 6, 7]
            case .connections: [6, 7]
            case .observations: [2, 3, 4]
            case .networkStages: [2]
            case .timeline: [0, 2]
            case .requests, .windows: [0, 1]
            case .serverSynAcks, .reasons, .flaggedClients, .tunnelRules, .exclusions: [1]
            case .firstConnection: [0]
            case .checkedHellos: []
            }
        }

        /// The queries whose rows are added up: their answers hold at most `mostRows`.
        var added: Bool { self != .observations && self != .checkedHellos }

        /// The query as shipped in deploy/clickhouse/queries/: every sensor's last day.
        public var example: String {
            let sql = sql { _ in "ts >= now() - INTERVAL 1 DAY" }
            return "-- synprint report --clickhouse, \(rawValue): over the last day here; the report sets the scope.\n"
                + sql.replacingOccurrences(of: "FROM ", with: "FROM synprint.") + "\n"
        }
    }

    /// Counts and times in answers are at most a trillion, and answers that are added up have
    /// at most 4 Mi rows, so that no sum of them overflows; a larger one is no store's answer.
    static let largestCount = 1 << 40
    static let mostRows = 1 << 22

    /// The answer's rows; an answer whose rows do not have the query's columns (a proxy's page,
    /// another server), or whose numbers or rows are beyond the bounds above, is an error, not
    /// something to read past.
    func rows(_ query: Query) throws(StoreError) -> [[String]] {
        let answer = try client.execute(
            query.sql(scope: condition(client:)) + " FORMAT TabSeparated", inDatabase: true, answerLimit: StoreClient.reportAnswerBytes)
        let rows = answer.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        guard rows.allSatisfy({ $0.count == query.columns }) else {
            throw .unexpected("an answer to the \(query.rawValue) query without its \(query.columns) columns")
        }
        guard !query.added || rows.count <= StoreReport.mostRows else {
            throw .unexpected("\(rows.count) rows in the answer to the \(query.rawValue) query, more than \(StoreReport.mostRows)")
        }
        for row in rows {
            for column in query.numbers {
                if let number = Int(row[column]), !(0...StoreReport.largestCount).contains(number) {
                    throw .unexpected("\(row[column]) in the answer to the \(query.rawValue) query, beyond \(StoreReport.largestCount)")
                }
            }
        }
        return rows
    }

    /// The labelled SYNs in scope as learned-entry lines, one per key and class with its count
    /// and the first and last SYN's time (what `db build` makes of the same SYNs).
    public func observations() throws(StoreError) -> [String] {
        try rows(.observations).enumerated().map { i, row in
            // TabSeparated escapes backslashes; the entries are JSON, whose own escapes stay.
            let template = row[0].replacingOccurrences(of: "\\\\", with: "\\")
            let time = TextBuffer(capacity: 64)
            time.append(", \"counts\": {"); time.appendJSONString(row[1]); time.append(": "); time.append(string: row[2])
            time.append("}, \"first_seen\": \""); time.appendTimestamp(seconds: Int(row[3]) ?? 0, microseconds: 0)
            time.append("\", \"last_seen\": \""); time.appendTimestamp(seconds: Int(row[4]) ?? 0, microseconds: 0)
            time.append("\"}")
            return template.replacingOccurrences(of: "{\"id\": \"\"", with: "{\"id\": \"obs-store-\(i)\"").dropLast() + time.string
        }
    }

    /// The ClientHellos of checked connections in scope, with the User-Agent each check saw.
    public func checkedHellos() throws(StoreError) -> [(userAgent: String, offer: TLSOffer)] {
        // TabSeparated arrays: [1,2,3] and ['h2','http/1.1'].
        func codes(_ text: String) -> [UInt16] { text.dropFirst().dropLast().split(separator: ",").compactMap { UInt16($0) } }
        func names(_ text: String) -> [String] {
            text.dropFirst().dropLast().split(separator: ",").map { String($0.dropFirst().dropLast()) }
        }
        return try rows(.checkedHellos).map { row in
            (
                row[0].replacingOccurrences(of: "\\\\", with: "\\"),
                TLSOffer(
                    ciphers: codes(row[1]), extensions: codes(row[2]), groups: codes(row[3]), grease: row[4] == "1", alpn: names(row[5]))
            )
        }
    }

    /// Labelled SYNs left out in scope, by rule (`Exclusion`'s names).
    public func exclusions() throws(StoreError) -> [(String, Int)] {
        try rows(.exclusions).map { ($0[0], Int($0[1]) ?? 0) }
    }

    /// The counts of the rows in scope, as `EventSummary` keeps them.
    public func counts() throws(StoreError) -> EventSummary.Counts {
        var c = EventSummary.Counts(database: database)
        let firstEntry = Dictionary(database.entries.enumerated().map { ($1.label, $0) }, uniquingKeysWith: { first, _ in first })
        // Client SYNs: class, best entry, link; server SYN+ACKs: class.
        for row in try rows(.clientSyns) {
            let n = Int(row[7]) ?? 0
            c.syns += n
            guard let osClass = OSClass(name: row[0]) else { continue }  // matched without a database
            c.clientClasses[osClass.rawValue] += n
            let label = row[2].isEmpty ? row[1] : "\(row[1]) \(row[2])"
            c.names[osClass != .unknown ? (firstEntry[label] ?? c.names.count - 1) : c.names.count - 1] += n
            if row[4] == "\\N" {
                c.links[c.links.count - 1] += n
            } else {
                let mtu = Int(row[4]) ?? 0
                let link =
                    database.links.firstIndex { $0.link == row[3] && $0.mtu == mtu } ?? database.links.firstIndex { $0.link == row[3] }
                c.links[row[3].isEmpty ? c.links.count - 2 : (link ?? c.links.count - 2)] += n
            }
            c.tunnels += Int(row[5]) ?? 0
            c.clamped += Int(row[6]) ?? 0
        }
        for row in try rows(.serverSynAcks) {
            let n = Int(row[1]) ?? 0
            c.synAcks += n
            if let osClass = OSClass(name: row[0]) { c.serverClasses[osClass.rawValue] += n }
        }
        // Requests: reasons, and the clients most often flagged.
        for row in try rows(.requests) {
            c.requests = Int(row[0]) ?? 0
            c.flagged = Int(row[1]) ?? 0
        }
        for row in try rows(.reasons) {
            if let index = VerdictReason.allCases.firstIndex(where: { $0.rawValue == row[0] }) { c.reasons[index] += Int(row[1]) ?? 0 }
        }
        for row in try rows(.flaggedClients) {
            if let address = IPAddress(row[0]) { c.flaggedClients[address] = Int(row[1]) ?? 0 }
        }
        // Flow windows and their tunnel rules.
        for row in try rows(.windows) {
            c.flowWindows = Int(row[0]) ?? 0
            c.tunnelWindows = Int(row[1]) ?? 0
        }
        for row in try rows(.tunnelRules) {
            if let index = TunnelFlowRules.named.firstIndex(where: { $0.1 == row[0] }) { c.tunnelRules[index] += Int(row[1]) ?? 0 }
        }
        try countConnections(&c)
        c.events = c.syns + c.synAcks + c.requests + c.flowWindows + c.connections
        return c
    }

    private func countConnections(_ c: inout EventSummary.Counts) throws(StoreError) {
        let stages = ConnectionStage.allCases
        for row in try rows(.connections) {
            let n = Int(row[7]) ?? 0
            guard let osClass = OSClass(name: row[0]), let stage = stages.firstIndex(where: { $0.rawValue == row[1] }),
                let ending = ConnectionEnding.allCases.firstIndex(where: { $0.rawValue == row[2] }),
                let fastOpen = FastOpenState.allCases.firstIndex(where: { $0.rawValue == row[4] }),
                let ecn = ECNState.allCases.firstIndex(where: { $0.rawValue == row[5] })
            else { continue }
            c.connections += n
            c.stagesByClass[osClass.rawValue][stage] += n
            c.endings[ending] += n
            let tags = Set(row[3].split(separator: ",").map(String.init))
            for (i, named) in ConnectionTags.named.enumerated() where tags.contains(named.1) { c.tags[i] += n }
            c.fastOpen[fastOpen] += n
            c.ecn[ecn] += n
            c.fastOpenByClass[osClass.rawValue][fastOpen] += n
            c.ecnByClass[osClass.rawValue][ecn] += n
            c.ecnBleached += Int(row[6]) ?? 0
        }
        for row in try rows(.networkStages) {
            guard let stage = stages.firstIndex(where: { $0.rawValue == row[1] }),
                let address = IPAddress(String(row[0].prefix(while: { $0 != "/" })))
            else { continue }
            let network = address.clientNetwork
            let index: Int
            if let known = c.networkIndex[network] {
                index = known
            } else {
                guard c.networks.count < EventSummary.networksKept else { continue }
                index = c.networks.count
                c.networkIndex[network] = index
                c.networks.append(network)
                c.networkStages.append(contentsOf: repeatElement(0, count: stages.count))
            }
            c.networkStages[index * stages.count + stage] += Int(row[2]) ?? 0
        }
        // The timeline starts at the end of the first connection that ended.
        if let row = try rows(.firstConnection).first, let seconds = Int64(row[0]),
            let stage = stages.firstIndex(where: { $0.rawValue == row[1] })
        {
            c.timeline.add(stage: stage, at: seconds, count: 0)
        }
        for row in try rows(.timeline) {
            guard let seconds = Int64(row[0]), let stage = stages.firstIndex(where: { $0.rawValue == row[1] }) else { continue }
            c.timeline.add(stage: stage, at: seconds, count: Int(row[2]) ?? 0)
        }
    }
}
