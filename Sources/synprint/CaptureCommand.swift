import API
import ArgumentParser
import Capture
import Decode
import Match
import Output
import SynprintKit
import Verdict

#if canImport(Glibc)
import Glibc
#endif

struct CaptureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Read capture files or a live interface and print each SYN's fingerprint (the default command).")

    @Option(name: .customShort("r"), help: ArgumentHelp("Read a pcap or pcapng file; repeat for several.", valueName: "file"))
    var read: [String] = []

    @Option(
        name: .customShort("i"), help: ArgumentHelp("Capture live on an interface (needs root or cap_net_raw).", valueName: "interface"))
    var interface: String?

    @Flag(name: .customLong("list-interfaces"), help: "List the interfaces libpcap can capture on, and exit.")
    var listInterfaces = false

    @Option(name: .customShort("c"), help: ArgumentHelp("Stop after this many fingerprinted SYNs and SYN+ACKs.", valueName: "count"))
    var count: Int?

    @Flag(name: .customShort("p"), help: "Put the interface in promiscuous mode.")
    var promiscuous = false

    @Option(help: "Bytes captured per packet on a live interface.")
    var snaplen: Int32 = 65535

    @Flag(help: "Write one JSON object per line (schema in the README); the same as --log-format json.")
    var json = false

    @Option(
        name: .customLong("log-format"),
        help: ArgumentHelp("Event format: text blocks, json lines, or p0f's key=value log lines.", valueName: "text|json|p0f"))
    var logFormat: EventFormat?

    @Option(name: .customShort("o"), help: ArgumentHelp("Write events to this file instead of standard output.", valueName: "file"))
    var output: String?

    @Flag(help: "Name the OS of every SYN and SYN+ACK from the fingerprint database.")
    var classify = false

    @Option(
        name: .customLong("db"),
        help: ArgumentHelp("Use this database file instead of the shipped one; repeat to merge several.", valueName: "file"))
    var databases: [String] = []

    @Option(
        name: .customLong("weight"),
        help: ArgumentHelp("Override a matcher weight, e.g. layout=5 (names in the README).", valueName: "name=value"))
    var weights: [String] = []

    @Flag(
        help:
            "Follow each connection to its first plain-HTTP request and judge its User-Agent against the SYN (implied by --alerts and --api; implies --classify)."
    )
    var http = false

    @Option(
        help: ArgumentHelp(
            "Append one JSON line per flagged connection to this file ('-' for standard output); SIGHUP reopens it.", valueName: "file"))
    var alerts: String?

    @Option(
        name: .customLong("alert-threshold"),
        help: ArgumentHelp("Flag a connection when its verdict score reaches this (0-1; default 0.5).", valueName: "score"))
    var alertThreshold: Float?

    @Option(
        name: .customLong("verdict-rule"),
        help: ArgumentHelp(
            "Override a verdict rule: a reason's weight (os_mismatch=0.8), confidence=0.9, or level=class (README, Verdicts).",
            valueName: "name=value"))
    var verdictRules: [String] = []

    @Option(
        help: ArgumentHelp(
            "Record labelled observations (HTTP User-Agents in the capture, API checks) to this file for `synprint db build --learned`.",
            valueName: "file"))
    var learn: String?

    @Option(
        help: ArgumentHelp(
            "Serve the lookup API (GET /v1/lookup, POST /v1/check) on this address; off by default. A bare port binds 127.0.0.1.",
            valueName: "host:port"))
    var api: String?

    @Option(
        name: .customLong("api-key"),
        help: ArgumentHelp("Require this key in the X-API-Key header (or Authorization: Bearer) of every API request.", valueName: "key"))
    var apiKey: String?

    @Option(
        name: .customLong("p0f-socket"),
        help: ArgumentHelp("Answer p0f's unix-socket queries on this path, so p0f clients work unchanged.", valueName: "path"))
    var p0fSocket: String?

    @Option(
        name: .customLong("max-flows"),
        help: ArgumentHelp("Connections followed at once while waiting for their request; the oldest goes first.", valueName: "count"))
    var maxFlows = 65536

    @Option(
        name: .customLong("max-hosts"),
        help: ArgumentHelp("Client addresses whose history is kept; the oldest goes first.", valueName: "count"))
    var maxHosts = 16384

    @Argument(help: ArgumentHelp("A BPF filter as in tcpdump, narrowing what is read (e.g. port 443).", valueName: "filter"))
    var filter: [String] = []

    func validate() throws {
        if listInterfaces { return }
        guard read.isEmpty != (interface == nil) else {
            throw ValidationError("give either -r FILE (one or more) or -i INTERFACE")
        }
        if let count, count < 1 { throw ValidationError("-c must be at least 1") }
        if maxFlows < 1 || maxHosts < 1 { throw ValidationError("--max-flows and --max-hosts must be at least 1") }
        if let api, APIServer.Settings(address: api, key: apiKey) == nil {
            throw ValidationError("--api takes HOST:PORT or PORT (default address 127.0.0.1:8249), found \"\(api)\"")
        }
        if apiKey != nil && api == nil { throw ValidationError("--api-key needs --api") }
        if json, let logFormat, logFormat != .json { throw ValidationError("--json and --log-format \(logFormat.rawValue) disagree") }
        _ = try verdictRuleSet()  // a bad rule is an error even when nothing is judged
    }

    /// Verdicts need the connection's request, and the OS guess to judge it by.
    var judging: Bool { http || alerts != nil || learn != nil || api != nil || p0fSocket != nil }

    func run() throws {
        if listInterfaces {
            for device in try PacketSource.interfaces() {
                let state = [device.isUp ? "up" : "down", device.isLoopback ? "loopback" : nil].compactMap { $0 }.joined(separator: ", ")
                print("\(device.name)\t\(state)\(device.description.map { "\t\($0)" } ?? "")")
            }
            return
        }
        var settings = Settings()
        settings.matchWeights = try matchWeights()
        settings.verdictRules = try verdictRuleSet()
        settings.maxFlows = maxFlows
        settings.maxHosts = maxHosts
        let database = classify || judging ? try loadDatabase(databases) : nil
        let alertLog = try alerts.map { try LineLog(path: $0) }
        let observations = try learn.map { try ObservationLog(path: $0) }
        let sink = EventSink(file: try output.map { try OutputFile(path: $0, mode: .truncate) } ?? OutputFile())
        let log = EventLog(
            format: logFormat ?? (json ? .json : .text), database: database, sink: sink,
            alerts: alertLog, observations: observations)
        ReopenSignal.install()
        let sensor = Sensor(settings: settings, database: database, judging: judging, limit: count, handler: log)
        var server: APIServer?
        var socket: P0fSocketServer?
        if let judge = sensor.judge {
            do {
                if let api, let address = APIServer.Settings(address: api, key: apiKey) {
                    let api = APIServer(
                        settings: address, judge: judge, database: database,
                        onAlert: { alertLog?.write($0) },
                        onCheck: { observations?.record($0, $1, label: $2.claimed, source: "api") })
                    let port = try api.start()
                    printError("synprint: API listening on \(address.host):\(port)")
                    server = api
                }
                if let p0fSocket {
                    socket = try P0fSocketServer(path: p0fSocket, judge: judge, database: database)
                    socket?.start()
                }
            } catch let error as APIError {
                throw Failure(error.description)
            }
        }
        defer {
            server?.stop()
            socket?.stop()
        }
        StopSignal.install()
        let sources: [() throws -> PacketSource] =
            interface.map { name in
                [{ try PacketSource.open(interface: name, promiscuous: promiscuous, snaplen: snaplen) }]
            } ?? read.map { path in { try PacketSource.open(file: path) } }
        var runner = SourceRunner(userFilter: filter.isEmpty ? nil : filter.joined(separator: " "), payload: judging)
        defer { sensor.finish() }  // on errors too: what was captured is written
        try runner.run(sources, shouldStop: { sensor.reachedLimit }, opened: { sensor.handOverEachEvent = $0.arrivesOverTime }) {
            packet, source in
            sensor.process(packet, link: source.linkType)
        }
        sensor.finish()
        sink.flush()
        printSummary(sensor.counters, runner.statistics)
        if let judge = sensor.judge, let tracker = sensor.pipeline.tracker { printSummary(tracker, judge, log) }
        if let observations { printError(observations.summary) }
        for failure in runner.failures { printError(failure) }
        if !runner.failures.isEmpty { throw ExitCode(2) }
    }

    func matchWeights() throws -> MatchWeights {
        var result = MatchWeights()
        for assignment in weights {
            if let problem = result.set(assignment) { throw ValidationError(problem) }
        }
        return result
    }

    func verdictRuleSet() throws -> VerdictRules {
        var rules = VerdictRules()
        for assignment in verdictRules {
            if let problem = rules.set(assignment) { throw ValidationError(problem) }
        }
        if let alertThreshold {
            guard (0...1).contains(alertThreshold) else { throw ValidationError("--alert-threshold is a score from 0 to 1") }
            rules.threshold = alertThreshold
        }
        return rules
    }

    func printSummary(_ tracker: ConnectionTracker, _ judge: VerdictJudge, _ output: EventLog) {
        let t = tracker.counters
        printError(
            "  http: \(t.tracked) connections followed, \(output.requests) requests judged, \(output.flagged) flagged; "
                + "not HTTP \(t.notHTTP), head too long \(t.tooLong), gaps \(t.gaps), cut by snaplen \(t.snaplenCut), "
                + "no request in time \(t.expired), evicted \(t.evicted); \(judge.hosts.count) hosts kept (\(judge.hosts.evicted) evicted)")
    }

    func printSummary(_ c: PacketCounters, _ live: CaptureStatistics?) {
        var lines = [
            "synprint: \(c.packets) packets read: \(c.syn) SYN, \(c.synAck) SYN+ACK fingerprinted (\(c.badOptions) with malformed options), \(c.skippedTotal) skipped, \(c.malformedTotal) malformed"
        ]
        let skipped = SkipReason.allCases.filter { c.skipped[$0.rawValue] > 0 }.map { "\($0.name) \(c.skipped[$0.rawValue])" }
        if !skipped.isEmpty { lines.append("  skipped: " + skipped.joined(separator: ", ")) }
        let malformed = MalformedReason.allCases.filter { c.malformed[$0.rawValue] > 0 }.map { "\($0.name) \(c.malformed[$0.rawValue])" }
        if !malformed.isEmpty { lines.append("  malformed: " + malformed.joined(separator: ", ")) }
        if let live {
            lines.append("  libpcap: received \(live.received), dropped \(live.dropped), interface dropped \(live.interfaceDropped)")
        }
        for line in lines { printError(line) }
    }
}

/// The given database files, or the shipped database when none are given.
func loadDatabase(_ files: [String]) throws -> Database {
    do {
        return try Database.load(files: files.isEmpty ? [try ShippedDatabase.path()] : files)
    } catch let error as DatabaseError {
        throw Failure(error.description)
    }
}

/// A fatal error already worded for the user; printed without ArgumentParser's usage text.
struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension EventFormat: ExpressibleByArgument {}
