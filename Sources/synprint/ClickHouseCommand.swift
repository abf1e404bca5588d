import ArgumentParser
import Fleet
import Foundation
import SynprintKit

/// `synprint clickhouse …`: the fleet store's layout in ClickHouse.
struct ClickHouseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clickhouse",
        _superCommandName: "synprint",
        abstract: "Create and check the fleet store's tables and views in ClickHouse (docs/FLEET.md).",
        subcommands: [Initialize.self])

    struct Initialize: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract:
                "Create the database, tables and views, and add columns this synprint writes that are missing; safe to run on every start.",
            discussion: """
                Examples:
                  synprint clickhouse init http://127.0.0.1:8123/synprint
                  synprint clickhouse init --print > schema.sql
                  synprint clickhouse init --cluster fleet http://ch1:8123/synprint http://ch2:8123/synprint
                  synprint clickhouse init --cluster fleet --replicated http://ch1a:8123/synprint http://ch1b:8123/synprint
                """)

        @Argument(
            help: ArgumentHelp(
                "ClickHouse's HTTP interface, http(s)://HOST:8123/DATABASE; with --cluster, every server's.", valueName: "url"))
        var urls: [String] = []

        @Flag(help: "Print the SQL instead of running it.")
        var print = false

        @Option(
            help: ArgumentHelp(
                "The cluster (remote_servers) to spread the rows over: TABLE_local on every shard, TABLE a Distributed table over them.",
                valueName: "name"))
        var cluster: String?

        @Flag(
            help:
                "With --cluster, replicate each shard's tables between its servers (ZooKeeper or Keeper, and the shard and replica macros: docs/FLEET.md)."
        )
        var replicated = false

        @Option(
            name: .customLong("ttl-days"),
            help: ArgumentHelp("Remove rows older than this many days (ClickHouse 19.6 and later).", valueName: "days"))
        var ttlDays: Int?

        @OptionGroup
        var access: StoreAccess

        func validate() throws {
            if let ttlDays, ttlDays < 1 { throw ValidationError("--ttl-days must be at least 1") }
            if !print && urls.isEmpty { throw ValidationError("give the ClickHouse URL (or --print)") }
            if cluster == nil && urls.count > 1 { throw ValidationError("several URLs are the servers of a --cluster") }
            if replicated && cluster == nil { throw ValidationError("--replicated goes with --cluster") }
        }

        func run() throws {
            if print {
                let database = try urls.first.map { try StoreAccess.parse($0).database } ?? StoreAddress.defaultDatabase
                Swift.print(StoreSchema.script(database: database, cluster: cluster, replicated: replicated), terminator: "")
                return
            }
            let addresses = try urls.map { try access.address($0) }
            for address in addresses {
                let client = StoreClient(address: address)
                defer { client.shutdown() }
                do {
                    for line in try StoreSetup.initialize(client, cluster: cluster, replicated: replicated, ttlDays: ttlDays) {
                        Swift.print(line)
                    }
                } catch {
                    throw Failure("ClickHouse at \(address.description): \(error)")
                }
            }
        }
    }
}
