import Output

/// Creating the store's layout (`synprint clickhouse init`) and checking it before a sensor
/// sends rows: the database, each table and each column the binary writes.
public enum StoreSetup {
    /// A problem found at start, worded for the user.
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
        /// ClickHouse did not answer at all (a sensor with a spool may start anyway).
        public let unreachable: Bool
    }

    /// The server's version, e.g. `18.16.1`; an answer that is not one (a proxy's page, another
    /// service on the port) is an error.
    public static func version(_ client: StoreClient) throws(StoreError) -> String {
        let answer = try client.execute("SELECT version()").trimmingCharacters(in: .whitespacesAndNewlines)
        guard answer.first?.isNumber == true, answer.allSatisfy({ $0.isNumber || $0 == "." }) else {
            throw .unexpected("this is not ClickHouse: SELECT version() answered \"\(answer.prefix(60))\"")
        }
        return answer
    }

    /// Whether the server has table TTLs (ClickHouse 19.6 and later).
    static func hasTTL(_ version: String) -> Bool {
        let parts = version.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2 else { return true }
        return parts[0] > 19 || (parts[0] == 19 && parts[1] >= 6)
    }

    /// Columns the binary writes that the store's tables lack, as `ALTER TABLE … ADD COLUMN`;
    /// a missing table counts as all of its columns. With `cluster`, the `_local` tables.
    public static func missing(_ client: StoreClient, cluster: Bool = false) throws(StoreError) -> [String] {
        let database = client.address.database
        let answer = try client.execute(
            "SELECT table, name FROM system.columns WHERE database = '\(database)' FORMAT TabSeparated")
        var present = Set<String>()
        for line in answer.split(separator: "\n") { present.insert(String(line)) }
        let tables = Set(present.map { String($0.prefix(while: { $0 != "\t" })) })
        var statements: [String] = []
        let suffix = cluster ? "_local" : ""
        for table in StoreTable.allCases {
            let name = table.rawValue + suffix
            guard tables.contains(name) else {
                statements.append("CREATE TABLE \(database).\(name) (… \(StoreSchema.columns(table).count) columns)")
                continue
            }
            var previous: String?
            for column in StoreSchema.columns(table) {
                if !present.contains("\(name)\t\(column.name)") {
                    let after = previous.map { " AFTER \(StoreSchema.quoted($0))" } ?? ""
                    statements.append(
                        "ALTER TABLE \(StoreSchema.quoted(database)).\(name) ADD COLUMN \(StoreSchema.quoted(column.name)) \(StoreSchema.definition(column))\(after)"
                    )
                }
                previous = column.name
            }
        }
        return statements
    }

    /// Before a sensor sends: the server answers, takes the credentials, has the database and
    /// every column. Throws the problem in one line, with what to run.
    public static func check(_ client: StoreClient) throws(Problem) {
        let url = client.address.description
        do {
            _ = try version(client)
            let databases = try client.execute(
                "SELECT count() FROM system.databases WHERE name = '\(client.address.database)'")
            guard databases.trimmingCharacters(in: .whitespacesAndNewlines) == "1" else {
                throw Problem(
                    description: "the ClickHouse database \(client.address.database) does not exist: run synprint clickhouse init \(url)",
                    unreachable: false)
            }
            let statements = try missing(client, cluster: try isCluster(client))
            guard statements.isEmpty else {
                throw Problem(
                    description:
                        "the store at \(url) has an older schema than this synprint: run synprint clickhouse init \(url), which runs: "
                        + statements.joined(separator: "; "),
                    unreachable: false)
            }
        } catch let error as StoreError {
            if error.isAuthentication {
                throw Problem(
                    description: "ClickHouse at \(url) refused the credentials of user \(client.address.user ?? "default"): \(error)",
                    unreachable: false)
            }
            if case .unreachable = error { throw Problem(description: "ClickHouse at \(url) does not answer: \(error)", unreachable: true) }
            throw Problem(description: "ClickHouse at \(url): \(error)", unreachable: false)
        } catch let problem as Problem {
            throw problem
        } catch {
            throw Problem(description: "ClickHouse at \(url): \(error)", unreachable: false)
        }
    }

    /// Whether the store was created with `--cluster`: its tables are then Distributed ones
    /// over `_local` tables.
    static func isCluster(_ client: StoreClient) throws(StoreError) -> Bool {
        let answer = try client.execute(
            "SELECT count() FROM system.tables WHERE database = '\(client.address.database)' AND name = 'syn_local'")
        return answer.trimmingCharacters(in: .whitespacesAndNewlines) != "0"
    }

    /// Feeds an earlier release created counted rows, not their `weight`: each is dropped, to
    /// be made again from the binary's schema (its view keeps what it holds; rows inserted while
    /// it is replaced are not counted there). Returns what it did, one line each.
    static func refreshFeeds(_ client: StoreClient, local: String) throws(StoreError) -> [String] {
        let database = client.address.database
        let answer = try client.execute(
            "SELECT name FROM system.tables WHERE database = '\(database)' FORMAT TabSeparated")
        let existing = Set(answer.split(separator: "\n").map(String.init))
        var done: [String] = []
        for view in StoreSchema.views where existing.contains("\(view.name)_feed\(local)") {
            let name = "\(StoreSchema.quoted(database)).\(view.name)_feed\(local)"
            guard !(try client.execute("SHOW CREATE TABLE \(name)")).contains(StoreSchema.weight.name) else { continue }
            try client.execute("DROP TABLE \(name)")
            done.append("\(view.name)_feed\(local) made again: it now sums the rows' weight")
        }
        return done
    }

    /// Creates what is missing (idempotent): the database, tables, views, missing columns, and
    /// with `ttlDays` a TTL on every table. Returns what it did, one line each.
    public static func initialize(
        _ client: StoreClient, cluster: String?, replicated: Bool = false, ttlDays: Int?
    ) throws(StoreError)
        -> [String]
    {
        var done: [String] = []
        let server = try version(client)
        if let cluster {
            // A server creates ON CLUSTER tables for a cluster it does not know without a word
            // (18.16 does): the sensors' inserts would then fail on every batch.
            let known = try client.execute("SELECT DISTINCT cluster FROM system.clusters ORDER BY cluster FORMAT TabSeparated")
                .split(separator: "\n").map(String.init)
            guard known.contains(cluster) else {
                throw .unsupported(
                    "the server knows no cluster \(cluster) (system.clusters, from its remote_servers)"
                        + (known.isEmpty ? "" : "; it knows: " + known.prefix(20).joined(separator: ", ")))
            }
        }
        // Tables first, then the columns an older store lacks, then the feeds that select them.
        let database = client.address.database
        let statements = StoreSchema.statements(database: database, cluster: cluster, replicated: replicated, feeds: false)
        for statement in statements { try client.execute(statement) }
        for statement in try missing(client, cluster: cluster != nil) {
            try client.execute(statement)
            done.append(statement)
        }
        let local = cluster == nil ? "" : "_local"
        let refreshed = try refreshFeeds(client, local: local)
        let feeds = StoreSchema.views.map { StoreSchema.feed($0, database: database, local: local) }
        for statement in feeds { try client.execute(statement) }
        done.insert(
            "\(client.address.description): ClickHouse \(server), \(statements.count + feeds.count) statements (tables and views as needed)",
            at: 0)
        done += refreshed
        if let ttlDays {
            guard hasTTL(server) else {
                throw .unsupported("table TTLs need ClickHouse 19.6 or later; this server is \(server)")
            }
            for statement in StoreSchema.ttlStatements(database: client.address.database, days: ttlDays, cluster: cluster != nil) {
                try client.execute(statement)
            }
            done.append("TTL: rows older than \(ttlDays) days are removed")
        }
        return done
    }
}
