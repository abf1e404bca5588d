import ArgumentParser

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
            """)

    @Argument(help: ArgumentHelp("pcap or pcapng files.", valueName: "capture"))
    var captures: [String]

    @Option(
        help: ArgumentHelp(
            "Also draw the stage shares over time and per client network as one SVG file (needs gnuplot).", valueName: "file.svg"))
    var chart: String?

    @Option(help: ArgumentHelp("The tables as text or as one JSON object (default text).", valueName: "text|json"))
    var summary: SummaryFormat = .text

    @Option(help: ArgumentHelp("A BPF filter as in tcpdump.", valueName: "filter"))
    var filter: String?

    @Option(name: .customLong("db"), help: ArgumentHelp("Fingerprint database files instead of the shipped one.", valueName: "file"))
    var databases: [String] = []

    @Option(
        help: ArgumentHelp("Seconds without a packet after which a connection counts as timed out (default 120).", valueName: "seconds"))
    var connectionTimeout: Int?

    func validate() throws {
        if captures.isEmpty { throw ValidationError("give one or more capture files") }
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
