import API
import ArgumentParser
import Capture
import Decode
import Fleet
import Foundation
import Match
import Output
import SynprintKit
import Verdict

#if canImport(Glibc)
import Glibc
#endif

@main
struct Synprint: ParsableCommand {
    static let version = "1.0.0"

    static let configuration = CommandConfiguration(
        commandName: "synprint",
        abstract: "Passive TCP/IP OS fingerprinting: names the OS behind every TCP SYN and SYN+ACK.",
        discussion: """
            Examples:
              synprint -r capture.pcap                     fingerprint every SYN in a file
              synprint -r capture.pcap --json --classify
              synprint -i eth0 --classify port 443         live, with a BPF filter
              synprint -i eth0 --http --alerts alerts.jsonl --api 8249 -u synprint
              synprint --config /etc/synprint/synprint.yaml
              synprint db validate database/synprint.db.jsonl
            """,
        version: version,
        subcommands: [DatabaseCommand.self, ReportCommand.self, ClickHouseCommand.self])

    @OptionGroup(title: "Input")
    var input: InputOptions

    @OptionGroup(title: "Output")
    var outputOptions: OutputOptions

    @OptionGroup(title: "Matching")
    var matching: MatchingOptions

    @OptionGroup(title: "Verdicts and alerts")
    var verdicts: VerdictOptions

    @OptionGroup(title: "Lookup APIs and metrics")
    var apis: APIOptions

    @OptionGroup(title: "Fleet store")
    var store: StoreOptions

    @OptionGroup(title: "Running as a service")
    var service: ServiceOptions

    @Argument(help: ArgumentHelp("A BPF filter as in tcpdump, narrowing what is read (e.g. port 443).", valueName: "filter"))
    var filter: [String] = []

    /// `synprint report CAPTURE…`: the summary is the report's output, on standard output as
    /// from the fleet store, not beside the run's own lines on standard error.
    nonisolated(unsafe) static var tablesOnStandardOutput = false

    /// Options from `--config FILE` come first, so the command line overrides them.
    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        // `synprint help [db [SUBCOMMAND]]`, which the filter words would otherwise swallow.
        if arguments.first == "help" {
            arguments = Array(arguments.dropFirst()) + ["--help"]
        }
        if arguments.first == DatabaseCommand.configuration.commandName { runDatabaseCommand(Array(arguments.dropFirst())) }
        if arguments.first == ClickHouseCommand.configuration.commandName { runStoreCommand(Array(arguments.dropFirst())) }
        if arguments.first == ReportCommand.configuration.commandName {
            do {
                let report = try ReportCommand.parse(Array(arguments.dropFirst()))
                if report.clickhouse != nil {
                    try report.runFromStore()
                    ReportCommand.exit()
                }
                arguments = report.rootArguments()
                tablesOnStandardOutput = true
            } catch {
                ReportCommand.fail(error)
            }
        }
        do {
            var command = try parseAsRoot(try ConfigurationFile.arguments(before: arguments))
            try command.run()
        } catch {
            fail(error)
        }
    }

    /// `synprint db …` is parsed on its own: the root's filter words would otherwise take `db`
    /// for a filter. `db` stays in the root's subcommands for help, man pages and completions.
    static func runDatabaseCommand(_ arguments: [String]) -> Never {
        do {
            var command = try DatabaseCommand.parseAsRoot(arguments)
            try command.run()
        } catch {
            DatabaseCommand.fail(error)
        }
        DatabaseCommand.exit()
    }

    /// `synprint clickhouse …`, parsed on its own for the same reason as `db`.
    static func runStoreCommand(_ arguments: [String]) -> Never {
        do {
            var command = try ClickHouseCommand.parseAsRoot(arguments)
            try command.run()
        } catch {
            ClickHouseCommand.fail(error)
        }
        ClickHouseCommand.exit()
    }

    /// Checked when the capture runs rather than in `validate()`, which ArgumentParser also calls
    /// for this root command when a subcommand such as `db build` runs.
    func checkOptions() throws {
        if input.listInterfaces { return }
        guard input.read.isEmpty != (input.interface == nil) else {
            throw ValidationError("give either -r FILE (one or more) or -i INTERFACE")
        }
        if let count = input.count, count < 1 { throw ValidationError("-c must be at least 1") }
        if input.read.filter({ $0 == "-" }).count > 1 { throw ValidationError("-r - is given twice: standard input is read once") }
        guard (1...WorkerCount.maximum).contains(input.workers.resolved) else {
            throw ValidationError("--workers takes 1 to \(WorkerCount.maximum), or auto")
        }
        if let bufferSize = input.bufferSize, bufferSize < 65536 || bufferSize > 1 << 30 {
            throw ValidationError("--buffer-size takes 65536 to 1073741824 bytes")
        }
        if let json = outputOptions.logFormat, outputOptions.json, json != .json {
            throw ValidationError("--json and --log-format \(json.rawValue) disagree")
        }
        _ = try settings()  // bad weights, rules and limits are errors even when nothing uses them
        try apis.validate()
        if service.chroot != nil && service.user == nil { throw ValidationError("--chroot needs -u USER") }
        if outputOptions.chart != nil && !outputOptions.connections { throw ValidationError("--chart needs --connections") }
        _ = try store.sinkSettings()
        if verdicts.learnTLS != nil && apis.api == nil {
            throw ValidationError("--learn-tls records the connections the API checks: give --api too")
        }
    }

    /// Verdicts need the connection's request, and the OS guess to judge it by.
    var readsRequests: Bool {
        verdicts.http || verdicts.alerts != nil || verdicts.learn != nil || verdicts.learnTLS != nil || apis.api != nil
            || apis.p0fSocket != nil
    }

    /// Connections are followed to their first data: a request, or a ClientHello (`--tls`).
    var judging: Bool { readsRequests || verdicts.tls }

    func settings() throws -> Settings {
        var settings = Settings()
        for assignment in matching.weights {
            if let problem = settings.matchWeights.set(assignment) { throw ValidationError(problem) }
        }
        for assignment in verdicts.rules {
            if let problem = settings.verdictRules.set(assignment) { throw ValidationError(problem) }
        }
        if let threshold = verdicts.alertThreshold {
            guard threshold.isFinite, (0...1).contains(threshold) else { throw ValidationError("--alert-threshold is a score from 0 to 1") }
            settings.verdictRules.threshold = threshold
        }
        guard service.maxAwaiting >= 1, service.maxHosts >= 1 else {
            throw ValidationError("--max-awaiting and --max-hosts must be at least 1")
        }
        settings.maxAwaiting = service.maxAwaiting
        settings.maxHosts = service.maxHosts
        let seconds = 1...Settings.longestSeconds
        guard service.maxConnections >= 2, seconds.contains(outputOptions.connectionTimeout) else {
            throw ValidationError("--max-connections must be at least 2 and --connection-timeout from 1 to \(seconds.upperBound) seconds")
        }
        settings.maxConnections = service.maxConnections
        guard outputOptions.flowWindowPackets >= 2, seconds.contains(outputOptions.flowWindowSeconds) else {
            throw ValidationError("--flow-window-packets must be at least 2 and --flow-window-seconds from 1 to \(seconds.upperBound)")
        }
        settings.flowWindowPackets = outputOptions.flowWindowPackets
        settings.flowWindowSeconds = outputOptions.flowWindowSeconds
        settings.connectionTimeout = outputOptions.connectionTimeout
        if let memcap = service.memcap {
            guard let bytes = ByteCount(memcap), bytes >= 8 << 20 else {
                throw ValidationError("--memcap takes a size of at least 8M (e.g. 256M, 1G), found \"\(memcap)\"")
            }
            settings.memcap = bytes
        }
        if let limit = verdicts.alertsPerHost {
            guard limit >= 0 else { throw ValidationError("--alerts-per-host must not be negative") }
            settings.alertsPerHost = limit
        }
        if let limit = verdicts.alertsPerSecond {
            guard limit >= 0 else { throw ValidationError("--alerts-per-second must not be negative") }
            settings.alertsPerSecond = limit
        }
        return settings
    }

    /// The listeners each serve up to their connection limit at once (512 for the API and the
    /// metrics); with the outputs and captures that passes the usual soft limit of 1,024
    /// descriptors, so the soft limit goes up to the hard one, as servers do.
    static func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }

    func run() throws {
        try checkOptions()
        if input.listInterfaces { return try listInterfaces() }
        let settings = try settings()
        if let mask = service.umask { OutputFile.creationMode.store(0o666 & ~mask, ordering: .relaxed) }
        let apiKey = try apis.key()
        if let user = service.user {
            guard Privileges.isRoot else { throw Failure("-u \(user) needs synprint to start as root") }
            do {
                try Privileges.check(user)
            } catch let failure as Privileges.Failure {
                throw Failure(failure.description, status: .usage)
            }
        }
        if apis.api != nil || apis.p0fSocket != nil || apis.metrics != nil, Privileges.isRoot, service.user == nil, !apis.allowRoot {
            throw Failure(
                "refusing to serve the APIs or metrics as root: give -u USER to drop privileges once the capture is open (or --allow-root)")
        }
        if apis.api != nil || apis.p0fSocket != nil || apis.metrics != nil { Synprint.raiseDescriptorLimit() }

        // Everything privileged first: the database, the outputs, the capture, the sockets.
        let database = matching.classify || judging ? try loadDatabase(matching.databases) : nil
        let stacks = judging ? try loadTLSStacks() : nil
        let words = filter.isEmpty ? ConfigurationFile.filter : filter
        let userFilter = words.isEmpty ? nil : words.joined(separator: " ")
        if let userFilter, let problem = PacketSource.checkFilter(userFilter) {
            throw Failure("bad filter \"\(userFilter)\": \(problem)")
        }
        let labels = EventLabels(sensor: outputOptions.sensorName ?? ProcessInfo.processInfo.hostName, schema: outputOptions.eventSchema)
        let alertLog = try opening { try verdicts.alerts.map { try LineLog(path: $0) } }
        let observations = try opening { try verdicts.learn.map { try ObservationLog(path: $0) } }
        let hellos = try opening { try verdicts.learnTLS.map { try HelloLog(path: $0) } }
        let eventFiles = try opening {
            try outputOptions.output.map {
                $0 == "-" ? OutputFile() : try OutputFile(path: $0, mode: outputOptions.truncate ? .truncate : .append)
            }
        }
        let sink = EventSink(files: eventFiles.isEmpty ? [OutputFile()] : eventFiles)
        let limiter = AlertLimiter(perHost: settings.alertsPerHost, window: settings.alertWindow, perSecond: settings.alertsPerSecond)
        let log = EventLog(
            format: outputOptions.format, database: database, labels: labels, sink: sink, alerts: alertLog, observations: observations,
            limiter: limiter)
        let storeSink = try openStore(database, labels, limiter)
        defer { storeSink?.finish() }  // after the sensor's own finish below: it delivers what the sensor handed over
        let handlers: [EventHandler] = [log] + (storeSink.map { [$0] } ?? []) + (hellos.map { [$0] } ?? [])
        let fanOut = EventFanOut(handlers, alerts: alertLog != nil || storeSink != nil ? limiter : nil)
        // Several workers on a live interface: one capture each, in one fanout group, the
        // kernel buffer shared out.
        let workers = input.workers.resolved
        let captures = try input.interface.map { name in
            let sources = try (0..<workers).map { _ in
                try PacketSource.open(
                    interface: name, promiscuous: input.promiscuous, snaplen: input.snaplen,
                    bufferSize: input.bufferSize.map { max($0 / Int32(workers), 65536) },
                    immediate: apis.api != nil || apis.p0fSocket != nil)
            }
            if workers > 1 {
                let group = UInt16(truncatingIfNeeded: getpid())
                for source in sources { try source.joinFanout(group: group) }
            }
            return sources
        }
        let live = captures?.first
        // Threads started from here on leave SIGINT/SIGTERM/SIGHUP to this one, whose reads
        // they must interrupt.
        Signals.block()
        let sensor = Sensor(
            settings: settings, database: database, stacks: stacks, judging: judging, requests: readsRequests,
            following: outputOptions.connections,
            flowStatistics: outputOptions.flowStats, limit: input.count, workers: workers, ownCaptures: (captures?.count ?? 0) > 1,
            handler: fanOut
        )
        let outputs = sink.files + [alertLog?.file, observations?.log.file, hellos?.log.file].compactMap { $0 }
        let metrics =
            apis.metrics != nil || apis.api != nil
            ? MetricsExporter { [monitor = sensor.monitor] in
                sensorMetrics(monitor, log, limiter, outputs) + (storeSink.map { storeMetrics($0.report) } ?? [])
            } : nil
        let servers = try startServers(
            sensor, database, labels, apiKey, alertLog, limiter, (observations, hellos), metrics, log.summary, storeSink)
        defer { servers.stop() }
        let files = try openFilesBeforeDroppingPrivileges()
        if let user = service.user {
            do {
                try Privileges.drop(to: user, chroot: service.chroot)
            } catch let failure as Privileges.Failure {
                throw Failure(failure.description)
            }
        }
        ReopenSignal.install()
        StopSignal.install()
        Signals.unblock()

        let sources: [() throws -> PacketSource] = live.map { source in [{ source }] } ?? files
        var runner = SourceRunner(
            userFilter: userFilter, scope: outputOptions.connections || outputOptions.flowStats ? .allTCP : judging ? .withPayload : .syns)
        var stats = StatsReporter(interval: input.statsInterval ?? (live != nil ? 60 : 0), events: input.statsEvents)
        var progress = Progress(files: input.read, enabled: live == nil && isatty(STDERR_FILENO) == 1)
        defer { sensor.finish() }  // on errors too: what was captured is written
        if let captures, captures.count > 1 {
            sensor.delivery = .prompt
            storeSink?.waitsWhenFull = false
            try runner.run(fanout: captures, sensor: sensor) { counts, each in
                sensor.publishStatus(libpcap: counts?.counts, captures: each.map { $0?.counts })
                stats.tick(sensor, live: counts)
            }
        } else {
            // Files are read as fast as the disk goes: the status every 4096 packets is current
            // enough. A pipe may bring packets slowly: every 64, at most ten times a second.
            var overTime = false, lastStatus = 0.0
            try runner.run(
                sources, shouldStop: { sensor.reachedLimit },
                opened: { source in
                    overTime = source.arrivesOverTime
                    sensor.delivery = source.isLive ? .prompt : (overTime ? .eachEvent : .batches)
                    storeSink?.waitsWhenFull = !source.isLive
                    progress.opened(source)
                },
                caughtUp: { sensor.idle() },
                idle: { source in
                    sensor.idle()
                    sensor.publishStatus(libpcap: source.statistics()?.counts)
                    stats.tick(sensor, source)
                }
            ) { packet, source in
                let more = sensor.process(packet, link: source.linkType)
                if sensor.packetsRead & 0x3F == 0,
                    sensor.packetsRead & 0xFFF == 0 || overTime && monotonicSeconds() - lastStatus >= 0.1
                {
                    lastStatus = monotonicSeconds()
                    sensor.publishStatus(libpcap: source.statistics()?.counts)
                    stats.tick(sensor, source)
                    progress.tick(source, packets: sensor.packetsRead)
                }
                return more
            }
        }
        progress.finish()
        sensor.finish()
        sensor.publishStatus(libpcap: runner.statistics?.counts, captures: runner.captureStatistics.map { $0?.counts })
        log.idle()
        storeSink?.finish()
        printSummary(sensor, runner, log, limiter, [observations?.summary, hellos?.summary].compactMap { $0 }, outputs)
        if let storeSink { printError(storeSummary(storeSink)) }
        if let format = outputOptions.summary ?? (live == nil && isatty(STDERR_FILENO) == 1 ? .text : nil) {
            let tables = format == .json ? log.summary.json() : log.summary.text()
            if Synprint.tablesOnStandardOutput { print(tables) } else { printError(tables) }
        }
        // A chart that cannot be drawn or written is one line; the run's own status still counts.
        var chartFailure: Failure?
        if let chart = outputOptions.chart {
            let counts = log.summary.snapshot
            if counts.connections == 0 {
                printError("synprint: no connection ended, so no chart was drawn (\(chart) was left as it was)")
            } else {
                do {
                    try ConnectionChart.write(counts, summary: log.summary, to: chart)
                    printError("synprint: chart written to \(chart)")
                } catch let failure as Failure {
                    printError("synprint: \(failure.description)")
                    chartFailure = failure
                }
            }
        }
        try exitStatus(runner: runner, outputs: outputs, store: storeSink?.report, chart: chartFailure)
    }

    /// The fleet store's sink, once the server has been checked: a server that does not answer
    /// is an error, unless a spool can hold the events until it does.
    func openStore(_ database: Database?, _ labels: EventLabels, _ limiter: AlertLimiter) throws -> StoreSink? {
        guard let address = try store.address() else { return nil }
        let spool = try store.openSpool()
        let client = StoreClient(address: address)
        do {
            try StoreSetup.check(client)
        } catch {
            guard error.unreachable, spool != nil else {
                client.shutdown()
                throw Failure(error.description)
            }
            printError("synprint: warning: \(error); events wait in the spool until it answers")
        }
        return StoreSink(
            client: client, spool: spool, database: database, labels: labels, limiter: limiter, settings: try store.sinkSettings())
    }

    func listInterfaces() throws {
        for device in try PacketSource.interfaces() {
            let state = [device.isUp ? "up" : "down", device.isLoopback ? "loopback" : nil].compactMap { $0 }.joined(separator: ", ")
            print("\(device.name)\t\(state)\(device.description.map { "\t\($0)" } ?? "")")
        }
    }

    /// An output's opening error, worded for the user.
    func opening<T>(_ open: () throws -> T) throws -> T {
        do {
            return try open()
        } catch let error as OutputError {
            throw Failure(error.description, status: .output)
        }
    }

    /// The capture files, opened one after the other; before privileges are dropped all at
    /// once (the user may not be allowed to read them).
    func openFilesBeforeDroppingPrivileges() throws -> [() throws -> PacketSource] {
        guard service.user != nil else { return input.read.map { path in { try PacketSource.open(file: path) } } }
        return input.read.map { path in
            let opened = Result { try PacketSource.open(file: path) }
            return { try opened.get() }
        }
    }

    func startServers(
        _ sensor: Sensor, _ database: Database?, _ labels: EventLabels, _ apiKey: String?, _ alertLog: LineLog?, _ limiter: AlertLimiter,
        _ learning: (observations: ObservationLog?, hellos: HelloLog?), _ metrics: MetricsExporter?, _ summary: EventSummary,
        _ store: StoreSink?
    ) throws -> Servers {
        var servers = Servers()
        do {
            if let address = apis.metrics.flatMap({ APIServer.Settings(address: $0, key: nil) }), let metrics {
                let server = MetricsServer(exporter: metrics, address: address)
                let port = try server.start()
                printError("synprint: metrics on \(address.host):\(port)/metrics")
                servers.metrics = server
            }
            guard let judge = sensor.judge else { return servers }
            if let api = apis.api, var address = APIServer.Settings(address: api, key: apiKey) {
                address.auth = apis.auth
                if apiKey == nil, !address.isLoopback {
                    printError(
                        "synprint: warning: the API listens on \(address.host) without --api-key-file: anyone who reaches it can query it")
                }
                let recentConnections: (@Sendable (Int) -> String)? =
                    outputOptions.connections ? { @Sendable minutes in summary.recentConnectionsJSON(minutes: minutes) } : nil
                let server = APIServer(
                    settings: address, judge: judge, database: database, labels: labels, metrics: metrics,
                    connectionStats: recentConnections,
                    onAlert: { line, judged in
                        guard limiter.allow(judged.observation.syn.fingerprint.ip.source, at: judged.observation.seconds) else { return }
                        alertLog?.write(line)
                        store?.handle(apiAlert: judged)
                    },
                    onCheck: { judged in
                        let observation = judged.observation
                        learning.observations?.record(
                            observation.syn, observation.request, label: judged.verdict.claimed, source: "api")
                        learning.hellos?.record(judged)
                        store?.handle(apiCheck: judged)
                    })
                let port = try server.start()
                printError("synprint: API listening on \(address.host):\(port)")
                servers.api = server
            }
            if let path = apis.p0fSocket {
                let socket = try P0fSocketServer(path: path, mode: apis.p0fSocketMode, judge: judge, database: database)
                try socket.start()
                servers.p0fSocket = socket
            }
        } catch let error as APIError {
            servers.stop()
            throw Failure(error.description)
        }
        return servers
    }

    /// Exit status: 0; 2 when an input could not be read whole; 3 when an output could not be
    /// written (or the fleet store dropped or rejected rows); 128 + the signal when a stop signal cut a run of files short.
    func exitStatus(runner: SourceRunner, outputs: [OutputFile], store: StoreSink.Report?, chart: Failure? = nil) throws {
        if StopSignal.requested && input.interface == nil { throw ExitCode(128 + StopSignal.number) }
        if outputs.contains(where: \.failed) || chart?.status == .output { throw ExitCode(3) }
        if let store, store.droppedRows > 0 || store.rejectedRows > 0 { throw ExitCode(3) }
        if !runner.failures.isEmpty { throw ExitCode(2) }
        if let chart { throw ExitCode(chart.status.rawValue) }
    }

    func printSummary(
        _ sensor: Sensor, _ runner: SourceRunner, _ log: EventLog, _ limiter: AlertLimiter,
        _ learning: [String], _ outputs: [OutputFile]
    ) {
        let status = sensor.captureStatus
        let c = status.counters
        var lines = [
            "synprint: \(c.packets) packets read: \(c.syn) SYN, \(c.synAck) SYN+ACK fingerprinted (\(c.badOptions) with malformed options), \(c.skippedTotal) skipped, \(c.malformedTotal) malformed"
        ]
        let skipped = SkipReason.allCases.filter { c.skipped[$0.rawValue] > 0 }.map { "\($0.name) \(c.skipped[$0.rawValue])" }
        if !skipped.isEmpty { lines.append("  skipped: " + skipped.joined(separator: ", ")) }
        let malformed = MalformedReason.allCases.filter { c.malformed[$0.rawValue] > 0 }.map { "\($0.name) \(c.malformed[$0.rawValue])" }
        if !malformed.isEmpty { lines.append("  malformed: " + malformed.joined(separator: ", ")) }
        if status.workers.count > 1 {
            let forgotten = sensor.workerRoutesForgotten
            let drops = status.workers.compactMap(\.libpcapDropped)
            lines.append(
                "  workers: packets " + status.workers.map { "\($0.packets)" }.joined(separator: ", ")
                    + (drops.count == status.workers.count ? "; libpcap dropped " + drops.map { "\($0)" }.joined(separator: ", ") : "")
                    + (forgotten > 0 ? "; \(forgotten) connections from a lower port than their server's forgotten for room" : ""))
        }
        if let live = runner.statistics {
            lines.append("  libpcap: received \(live.received), dropped \(live.dropped), interface dropped \(live.interfaceDropped)")
        }
        if let judge = sensor.judge, let t = status.tracker {
            let evictions = judge.hosts.evictions
            lines.append(
                "  http: \(t.tracked) connections followed, \(log.requests) requests judged, \(log.flagged) flagged, "
                    + "\(t.hellos) TLS ClientHellos read; not HTTP or TLS \(t.notHTTP), head too long \(t.tooLong), gaps \(t.gaps), cut by snaplen \(t.snaplenCut), "
                    + "no request in time \(t.expired), evicted \(t.evicted), over the head budget \(t.overBudget); "
                    + "\(counted(judge.hosts.count, "host")) kept (\(evictions.total) evicted, \(evictions.withEvidence) of them with a handshake)"
            )
            if limiter.suppressed > 0 { lines.append("  alerts: \(limiter.suppressed) suppressed by the rate limits") }
        }
        if let flow = status.flowStats {
            lines.append(
                "  flow statistics: \(flow.windows) windows; pushed out of full tables: \(flow.clientsEvicted) clients, "
                    + "\(flow.connectionsEvicted) connections, \(sensor.flowEntropyEvicted) entropy tallies; "
                    + "ClientHellos over several segments not read whole: \(flow.hellosUnread)")
        }
        lines += learning
        if sensor.droppedAtStop > 0 { lines.append("  \(sensor.droppedAtStop) events not written: the output stalled at the stop") }
        for file in outputs where file.state.droppedBytes > 0 {
            lines.append("  \(file.path): \(file.state.droppedLines) lines (\(file.state.droppedBytes) bytes) could not be written")
        }
        for line in lines { printError(line) }
    }
}

/// The servers started for a run.
struct Servers {
    var api: APIServer?
    var p0fSocket: P0fSocketServer?
    var metrics: MetricsServer?

    func stop() {
        api?.stop()
        p0fSocket?.stop()
        metrics?.stop()
    }
}

/// "1 host", "2 hosts".
func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}

/// A size such as `256M`, `1G`, `65536` or `64K`.
func ByteCount(_ text: String) -> Int? {
    let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
    var digits = Substring(text)
    var unit = 1
    if let last = digits.last?.uppercased().first, let multiplier = units[last] {
        unit = multiplier
        digits = digits.dropLast()
    }
    guard let value = Int(digits), value >= 0 else { return nil }
    let (bytes, overflow) = value.multipliedReportingOverflow(by: unit)
    return overflow ? nil : bytes
}

/// The given database files, or the shipped database when none are given.
func loadDatabase(_ files: [String]) throws -> Database {
    do {
        return try Database.load(files: files.isEmpty ? [try ShippedDatabase.path()] : files)
    } catch let error as DatabaseError {
        throw Failure(error.description, status: .input)
    }
}

/// The shipped table of TLS stacks (`database/tls.jsonl`, beside the shipped database). Without
/// it ClientHellos are still read and written, with no client family: one warning says so.
func loadTLSStacks() throws -> TLSStacks? {
    let path = (try ShippedDatabase.path() as NSString).deletingLastPathComponent + "/" + TLSStacks.fileName
    guard FileManager.default.fileExists(atPath: path) else {
        printError("synprint: warning: no \(TLSStacks.fileName) beside the shipped database: ClientHellos get no client family")
        return nil
    }
    do {
        return try TLSStacks.load(file: path)
    } catch {
        throw Failure(error.description, status: .input)
    }
}

/// The exit statuses, the same for every command (docs/USAGE.md lists them).
enum ExitStatus: Int32 {
    /// Something failed while running (no capture privilege, an unknown interface, a port in use).
    case runtime = 1
    /// An input could not be read whole: a capture, the configuration file, a database.
    case input = 2
    /// An output could not be opened or written, or the fleet store dropped or rejected rows.
    case output = 3
    /// The command line (or the configuration file) is wrong: an unknown option, a bad value.
    case usage = 64
}

/// A fatal error already worded for the user, with its exit status.
struct Failure: Error, CustomStringConvertible {
    let description: String
    let status: ExitStatus
    init(_ description: String, status: ExitStatus = .runtime) {
        self.description = description
        self.status = status
    }
}

extension ParsableCommand {
    /// Every command fails the same way: one line `synprint: …` on standard error, and the
    /// status of `ExitStatus` (help and version requests print as usual and exit 0).
    static func fail(_ error: Error) -> Never {
        if let failure = error as? Failure {
            printError("synprint: \(failure.description)")
            exit(withError: ExitCode(failure.status.rawValue))
        }
        if error is ExitCode { exit(withError: error) }
        let code = exitCode(for: error)
        if code == .success { exit(withError: error) }
        let usage = code == .validationFailure
        let help = configuration.commandName.map { $0 == "synprint" ? "synprint --help" : "synprint \($0) --help" } ?? "synprint --help"
        printError("synprint: \(message(for: error))" + (usage ? " (\(help) lists the options)" : ""))
        exit(withError: ExitCode(usage ? ExitStatus.usage.rawValue : ExitStatus.runtime.rawValue))
    }
}

extension EventFormat: ExpressibleByArgument {}
extension EventSchema: ExpressibleByArgument {}
