import ArgumentParser
import Fleet
import SynprintKit

/// `synprint report CAPTURE…`: the connection aggregates of captures as tables, and as a chart
/// with `--chart`. A shorthand for a run with `--classify --connections --summary`, events
/// discarded, parsed on its own like `db` and then run as that.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        _superCommandName: "synprint",
        abstract: "Connection stages, tags, Fast Open and ECN of captures, by OS class and client network, as tables and a chart.",
        discussion: """
            Examples:
              synprint report capture.pcap
              synprint report day1.pcap day2.pcap --chart stages.svg --filter 'port 443'
              synprint report --clickhouse http://127.0.0.1:8123/synprint --since 24h --network 198.51.100.0/22
            """)

    @Argument(help: ArgumentHelp("pcap or pcapng files.", valueName: "capture"))
    var captures: [String] = []

    @Option(
        help: ArgumentHelp(
            "Report from the fleet store instead: the rows of every sensor in ClickHouse (docs/FLEET.md).", valueName: "url"))
    var clickhouse: String?

    @OptionGroup
    var access: StoreAccess

    @Option(help: ArgumentHelp("With --clickhouse, only rows newer than this (90s, 15m, 24h, 7d).", valueName: "duration"))
    var since: String?

    @Option(help: ArgumentHelp("With --clickhouse, only this sensor's rows.", valueName: "name"))
    var sensor: String?

    @Option(help: ArgumentHelp("With --clickhouse, only clients in this network (CIDR).", valueName: "cidr"))
    var network: String?

    @Option(
        help: ArgumentHelp(
            "Also draw the stage shares over time and per client network as one SVG file (needs gnuplot).", valueName: "file.svg"))
    var chart: String?

    @Option(help: ArgumentHelp("The tables as text or as one JSON object.", valueName: "text|json"))
    var summary: SummaryFormat = .text

    @Option(help: ArgumentHelp("A BPF filter as in tcpdump.", valueName: "filter"))
    var filter: String?

    @Option(name: .customLong("db"), help: ArgumentHelp("Fingerprint database files instead of the shipped one.", valueName: "file"))
    var databases: [String] = []

    @Option(
        help: ArgumentHelp("Seconds without a packet after which a connection counts as timed out (default 120).", valueName: "seconds"))
    var connectionTimeout: Int?

    func validate() throws {
        if captures.isEmpty == (clickhouse == nil) { throw ValidationError("give one or more capture files, or --clickhouse URL") }
        if clickhouse == nil && (since != nil || sensor != nil || network != nil || access.given) {
            throw ValidationError("--since, --sensor, --network, --clickhouse-credentials and --clickhouse-ca go with --clickhouse")
        }
        if clickhouse != nil && (filter != nil || connectionTimeout != nil) {
            throw ValidationError("--filter and --connection-timeout apply to captures, not to --clickhouse")
        }
        if let since, StoreReport.duration(since) == nil {
            throw ValidationError("--since takes a duration such as 90s, 15m, 24h or 7d, at most 36500d")
        }
        if let network, StoreReport.network(network) == nil { throw ValidationError("--network takes a CIDR such as 198.51.100.0/22") }
    }

    /// The report from the fleet store: the same tables (and chart) computed in ClickHouse.
    func runFromStore() throws {
        guard let clickhouse else { return }
        let address = try access.address(clickhouse)
        let database = try loadDatabase(databases)
        let client = StoreClient(address: address, timeout: 60)
        defer { client.shutdown() }
        let scope = StoreReport.Scope(
            since: since.flatMap(StoreReport.duration), sensor: sensor, network: network.flatMap(StoreReport.network))
        let counts: EventSummary.Counts
        do {
            counts = try StoreReport(client: client, scope: scope, database: database).counts()
        } catch {
            throw Failure("ClickHouse at \(address.description): \(error)")
        }
        let summary = EventSummary(database: database, counts: counts)
        print(self.summary == .json ? summary.json() : summary.text())
        if let chart {
            guard counts.connections > 0 else {
                return printError("synprint: no connection in the store's rows, so no chart was drawn (\(chart) was left as it was)")
            }
            try ConnectionChart.write(counts, summary: summary, to: chart)
            printError("synprint: chart written to \(chart)")
        }
    }

    /// The root command's arguments for this report.
    func rootArguments() -> [String] {
        var arguments = captures.flatMap { ["-r", $0] }
        arguments += ["--classify", "--connections", "--summary", summary.rawValue, "-o", "/dev/null"]
        arguments += databases.flatMap { ["--db", $0] }
        if let chart { arguments += ["--chart", chart] }
        if let connectionTimeout { arguments += ["--connection-timeout", String(connectionTimeout)] }
        if let filter { arguments += ["--", filter] }
        return arguments
    }
}
