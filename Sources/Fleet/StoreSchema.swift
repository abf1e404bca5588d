import Output

/// The fleet store's layout in ClickHouse: one table per event type with the columns of
/// `StoreRows`, and materialized views that keep Cloudflare's 15-minute aggregates. The SQL
/// runs on ClickHouse 18.16 (Debian 12's) and on current releases alike, so it uses neither
/// `IPv6` columns, `LowCardinality` nor `DateTime64`: addresses are their text, with the
/// client's network as a column of its own to group and order by.
public enum StoreSchema {
    public typealias Column = (name: String, type: String)

    static let leading: [Column] = [("sensor", "String"), ("event_id", "String"), ("ts", "DateTime"), ("ts_us", "UInt32")]
    static let endpoints: [Column] = [
        ("src_ip", "String"), ("src_port", "UInt16"), ("dst_ip", "String"), ("dst_port", "UInt16"), ("client_net", "String"),
    ]
    static let path: [Column] = [
        ("path_mss", "Nullable(UInt16)"), ("path_mtu", "Nullable(UInt16)"), ("path_link", "String"), ("path_tunnel", "UInt8"),
        ("path_clamped", "UInt8"), ("original_mss", "Nullable(UInt16)"), ("hops", "Nullable(UInt8)"),
    ]
    static let os: [Column] = [
        ("os_class", "String"), ("os_family", "String"), ("os_name", "String"), ("os_flavor", "String"), ("os_confidence", "Float32"),
        ("os_family_confidence", "Float32"), ("os_match", "String"),
    ]
    /// The connections a row of a connection's table stands for: the sensor's sampling, 1 in
    /// `weight` (`--clickhouse-sample`); counts in the views and the report are sums of it.
    static let weight: Column = ("weight", "UInt32")
    /// Values for rows written before a column existed (`clickhouse init` adds it to old tables).
    static let defaults = [weight.name: "1"]

    static let syn: [Column] =
        leading + endpoints + [
            ("community_id", "String"), ("ip_version", "UInt8"), ("ttl", "UInt8"), ("initial_ttl", "UInt8"), ("distance", "Int16"),
            ("df", "UInt8"), ("ip_id", "UInt32"), ("tos", "UInt8"), ("window", "UInt16"), ("options", "String"),
            ("mss", "Nullable(UInt16)"), ("window_scale", "Nullable(UInt8)"), ("window_multiple", "String"), ("timestamps", "UInt8"),
            ("quirks", "Array(String)"), ("raw_sig", "String"), ("ja4t", "String"),
        ] + path + os + [weight]
    static let http: [Column] =
        leading + endpoints + [
            ("source", "String"), ("syn_ts", "DateTime"), ("method", "String"), ("host", "String"), ("user_agent", "String"),
            ("platform_hint", "String"), ("proxy_headers", "Array(String)"), ("ja4h", "String"), ("raw_sig", "String"), ("ja4t", "String"),
        ] + path + os + [
            ("flagged", "UInt8"), ("score", "Float32"), ("reasons", "Array(String)"), ("ua_class", "String"), ("ua_family", "String"),
            ("observation", "String"), ("excluded", "String"), weight,
        ]
    static let conn: [Column] =
        leading + endpoints + [
            ("end_ts", "DateTime"), ("stage", "String"), ("ending", "String"), ("tags", "Array(String)"), ("connected", "UInt8"),
            ("handshake_rtt", "Nullable(Float64)"), ("duration", "Float64"), ("client_packets", "UInt32"), ("client_bytes", "UInt64"),
            ("client_fin", "UInt8"), ("client_rst", "UInt8"), ("server_packets", "UInt32"), ("server_bytes", "UInt64"),
            ("server_fin", "UInt8"), ("server_rst", "UInt8"), ("reset_ttl", "Nullable(UInt8)"), ("tfo", "String"), ("ecn", "String"),
            ("ecn_bleached", "UInt8"), ("accecn", "UInt8"), ("os_class", "String"), ("os_family", "String"),
            ("path_mtu", "Nullable(UInt16)"), ("path_tunnel", "UInt8"), weight,
        ]
    static let flowstats: [Column] =
        leading + [("src_ip", "String"), ("dst_ip", "String"), ("dst_port", "UInt16"), ("client_net", "String")] + [
            ("end_ts", "DateTime"), ("seconds", "Float64"),
        ]
        + ["up", "down"].flatMap { direction in
            [
                ("\(direction)_packets", "UInt32"), ("\(direction)_data_packets", "UInt32"), ("\(direction)_bytes", "UInt64"),
                ("\(direction)_entropy", "Nullable(Float32)"), ("\(direction)_interval_mean", "Nullable(Float64)"),
                ("\(direction)_length_mean", "Nullable(Float32)"),
            ]
        } + [
            ("push_ratio", "Nullable(Float32)"), ("up_down_ratio", "Nullable(Float32)"), ("connections", "UInt32"),
            ("largest_connection_share", "Nullable(Float32)"), ("longest_connection", "Float64"),
            ("first_payload_kinds", "Array(String)"), ("first_payload_counts", "Array(UInt32)"), ("tls_server_name", "String"),
            ("tls_alpn", "String"), ("tls_ja4", "String"), ("tunnel_rules", "Array(String)"),
        ]
    static let stats: [Column] =
        leading + [
            ("packets", "UInt64"), ("syn", "UInt64"), ("synack", "UInt64"), ("skipped", "UInt64"), ("malformed", "UInt64"),
            ("libpcap_received", "Nullable(UInt64)"), ("libpcap_dropped", "Nullable(UInt64)"),
            ("libpcap_interface_dropped", "Nullable(UInt64)"),
            ("awaiting_request", "UInt64"), ("requests", "UInt64"), ("flagged", "UInt64"), ("alerts_suppressed", "UInt64"),
        ]

    static let tls: [Column] =
        leading + endpoints + [
            ("sni", "String"), ("alpn", "Array(String)"), ("versions", "Array(String)"), ("ciphers", "UInt16"), ("extensions", "UInt16"),
            ("cipher_codes", "Array(UInt16)"), ("extension_codes", "Array(UInt16)"), ("group_codes", "Array(UInt16)"),
            ("grease", "UInt8"), ("complete", "UInt8"), ("ja4", "String"), ("tls_family", "String"), ("tls_library", "String"),
            ("tls_name", "String"), ("tls_confidence", "Float32"), ("tls_library_confidence", "Float32"), ("os_class", "String"),
            ("os_family", "String"), weight,
        ]

    public static func columns(_ table: StoreTable) -> [Column] {
        switch table {
        case .syn, .synack: syn
        case .http, .alert: http
        case .conn: conn
        case .flowstats: flowstats
        case .stats: stats
        case .tls: tls
        }
    }

    /// The rows' sorting key: by sensor and client network for the common questions ("this
    /// network, this hour"); the event id last, so that ReplacingMergeTree folds a batch that
    /// was sent twice (an insert whose answer was lost) into one copy of each row.
    static func orderBy(_ table: StoreTable) -> String {
        table == .stats ? "(sensor, ts, event_id)" : "(sensor, client_net, ts, event_id)"
    }

    /// The materialized views: Cloudflare's aggregates per 15 minutes, kept as rows arrive.
    public struct View: Sendable {
        public let name: String
        public let source: StoreTable
        let key: [Column]
        let sums: [Column]
        let select: String
    }

    public static let views: [View] = [
        View(
            name: "conn_15m", source: .conn,
            key: [
                ("sensor", "String"), ("period", "DateTime"), ("client_net", "String"), ("os_class", "String"), ("stage", "String"),
                ("ending", "String"), ("tags", "String"),
            ],
            sums: [("connections", "UInt64"), ("connected", "UInt64")],
            select: """
                sensor, toStartOfFifteenMinutes(ts) AS period, client_net, os_class, stage, ending, \
                arrayStringConcat(tags, ',') AS tags, toUInt64(weight) AS connections, toUInt64(connected) * weight AS connected
                """),
        View(
            name: "verdicts_15m", source: .http,
            key: [
                ("sensor", "String"), ("period", "DateTime"), ("client_net", "String"), ("os_class", "String"), ("reason", "String"),
            ],
            sums: [("requests", "UInt64"), ("flagged", "UInt64")],
            select: """
                sensor, toStartOfFifteenMinutes(ts) AS period, client_net, os_class, \
                arrayJoin(if(empty(reasons), ['none'], reasons)) AS reason, toUInt64(weight) AS requests, toUInt64(flagged) * weight AS flagged
                """),
        View(
            name: "syn_15m", source: .syn,
            key: [("sensor", "String"), ("period", "DateTime"), ("client_net", "String"), ("os_class", "String"), ("os_family", "String")],
            sums: [("syns", "UInt64"), ("tunnels", "UInt64"), ("clamped", "UInt64")],
            select: """
                sensor, toStartOfFifteenMinutes(ts) AS period, client_net, os_class, os_family, toUInt64(weight) AS syns, \
                toUInt64(path_tunnel) * weight AS tunnels, toUInt64(path_clamped) * weight AS clamped
                """),
        View(
            name: "tls_15m", source: .tls,
            key: [
                ("sensor", "String"), ("period", "DateTime"), ("client_net", "String"), ("tls_family", "String"),
                ("tls_library", "String"), ("os_family", "String"),
            ],
            sums: [("connections", "UInt64")],
            select: """
                sensor, toStartOfFifteenMinutes(ts) AS period, client_net, tls_family, tls_library, os_family, \
                toUInt64(weight) AS connections
                """),
    ]

    /// The statements that create the database, the tables and the views, each safe to run again.
    /// With `cluster`, each server gets its rows in `TABLE_local` and `TABLE` is a Distributed
    /// table over every shard's, sharded by client network so that a network's rows stay together.
    /// `replicated`: the local tables are replicated between the servers of a shard through
    /// ZooKeeper (or ClickHouse Keeper), under `/clickhouse/tables/{shard}/DATABASE/TABLE`, with
    /// each server's `shard` and `replica` macros.
    /// `feeds: false` leaves out the views' feeds, which `clickhouse init` creates once the
    /// tables have every column they select (`StoreSetup.initialize`).
    public static func statements(database: String, cluster: String? = nil, replicated: Bool = false, feeds: Bool = true) -> [String] {
        let db = quoted(database)
        var sql = ["CREATE DATABASE IF NOT EXISTS \(db)"]
        let local = cluster == nil ? "" : "_local"
        func engine(_ kind: String, _ table: String) -> String {
            replicated
                ? "Replicated\(kind)MergeTree('/clickhouse/tables/{shard}/\(database)/\(table)\(local)', '{replica}')" : "\(kind)MergeTree"
        }
        for table in StoreTable.allCases {
            let columns = columns(table).map { "    \(quoted($0.name)) \(definition($0))" }.joined(separator: ",\n")
            sql.append(
                """
                CREATE TABLE IF NOT EXISTS \(db).\(table.rawValue)\(local) (
                \(columns)
                ) ENGINE = \(engine("Replacing", table.rawValue))
                PARTITION BY toYYYYMMDD(ts)
                ORDER BY \(orderBy(table))
                """)
        }
        for view in views {
            let columns = (view.key + view.sums).map { "    \(quoted($0.name)) \($0.type)" }.joined(separator: ",\n")
            let key = view.key.map { quoted($0.name) }.joined(separator: ", ")
            sql.append(
                """
                CREATE TABLE IF NOT EXISTS \(db).\(view.name)\(local) (
                \(columns)
                ) ENGINE = \(engine("Summing", view.name))
                PARTITION BY toYYYYMM(period)
                ORDER BY (\(key))
                """)
            if feeds { sql.append(feed(view, database: database, local: local)) }
        }
        if let cluster {
            for name in StoreTable.allCases.map(\.rawValue) + views.map(\.name) {
                let shard = name == StoreTable.stats.rawValue ? "cityHash64(sensor)" : "cityHash64(client_net)"
                sql.append(
                    """
                    CREATE TABLE IF NOT EXISTS \(db).\(name) AS \(db).\(name)_local
                    ENGINE = Distributed(\(quoted(cluster)), \(db), \(name)_local, \(shard))
                    """)
            }
        }
        return sql
    }

    /// The materialized view that feeds `view` from its source table (`local`: `_local` in a cluster).
    static func feed(_ view: View, database: String, local: String) -> String {
        let db = quoted(database)
        return """
            CREATE MATERIALIZED VIEW IF NOT EXISTS \(db).\(view.name)_feed\(local) TO \(db).\(view.name)\(local)
            AS SELECT \(view.select)
            FROM \(db).\(view.source.rawValue)\(local)
            """
    }

    /// `ALTER TABLE … MODIFY TTL`, for servers that have TTLs (ClickHouse 19.6 and later).
    public static func ttlStatements(database: String, days: Int, cluster: Bool = false) -> [String] {
        let suffix = cluster ? "_local" : ""
        return StoreTable.allCases.map {
            "ALTER TABLE \(quoted(database)).\($0.rawValue)\(suffix) MODIFY TTL ts + INTERVAL \(days) DAY"
        } + views.map { "ALTER TABLE \(quoted(database)).\($0.name)\(suffix) MODIFY TTL period + INTERVAL \(days) DAY" }
    }

    /// A column's type, with its default when it has one.
    static func definition(_ column: Column) -> String {
        defaults[column.name].map { "\(column.type) DEFAULT \($0)" } ?? column.type
    }

    /// An identifier in backquotes, as ClickHouse writes them.
    static func quoted(_ name: String) -> String {
        "`" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "`", with: "\\`") + "`"
    }

    /// The whole schema as one SQL file (`synprint clickhouse init --print`, deploy/clickhouse/schema.sql).
    public static func script(database: String, cluster: String? = nil, replicated: Bool = false) -> String {
        statements(database: database, cluster: cluster, replicated: replicated).map { $0 + ";\n" }.joined(separator: "\n")
    }
}
