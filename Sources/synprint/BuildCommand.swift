import ArgumentParser
import Capture
import Decode
import Features
import Fleet
import Foundation
import Learn
import Match
import SynprintKit
import Verdict

#if canImport(Glibc)
import Glibc
#endif

extension DatabaseCommand {
    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Learn fingerprints from labelled traffic and write them as a database.",
            discussion: """
                A SYN is labelled by the User-Agent (and Sec-CH-UA-Platform) of the plain-HTTP request on its
                own connection, or by a row of --labels. Bot User-Agents, crafted SYNs and SYNs whose stack the
                shipped database confidently places in another family than the label (the VPN/proxy cases) are
                left out and counted. Keys seen fewer than --min-count times are dropped.
                """)

        @Option(
            name: .customShort("r"),
            help: ArgumentHelp("A pcap or pcapng file with labelled traffic; repeat for several.", valueName: "file"))
        var read: [String] = []

        @Option(
            help: ArgumentHelp(
                "CSV or JSON lines with ip, optional port and time, and os_class or user_agent; its rows label SYNs before HTTP does.",
                valueName: "file"))
        var labels: String?

        @Option(help: ArgumentHelp("Observations recorded by `synprint --learn`; repeat for several.", valueName: "file"))
        var learned: [String] = []

        @Option(
            name: .customLong("learned-tls"),
            help: ArgumentHelp("Checked ClientHellos recorded by `synprint --learn-tls`, for --tls; repeat for several.", valueName: "file")
        )
        var learnedTLS: [String] = []

        @Option(
            help: ArgumentHelp(
                "Also learn from the fleet store: the labelled SYNs every sensor's http rows keep (docs/FLEET.md).", valueName: "url"))
        var clickhouse: String?

        @OptionGroup
        var access: StoreAccess

        @Option(help: ArgumentHelp("With --clickhouse, only rows newer than this (15m, 24h, 7d).", valueName: "duration"))
        var since: String?

        @Option(
            name: .customLong("label-window"),
            help: ArgumentHelp(
                "Also label SYNs from the same address within this many seconds of a request (noisier: NAT and shared hosts mix stacks). Also the tolerance for timed rows of --labels (default 300 s).",
                valueName: "seconds"))
        var labelWindow: Int?

        @Option(name: .customLong("min-count"), help: "Drop keys observed fewer times than this.")
        var minCount = 2

        @Option(
            help: ArgumentHelp(
                "Also learn TLS stacks from ClientHellos and write them to this file (the format of database/tls.jsonl): the captures' hellos labelled by the library their hosts' plain-HTTP User-Agents claim, and with --clickhouse the checked connections' hellos by their checks' User-Agents.",
                valueName: "file"))
        var tls: String?

        @Option(
            name: .customLong("disagree-confidence"),
            help: "Leave out a labelled SYN when the shipped database places its stack in another family with at least this confidence.")
        var disagreeConfidence: Float = 0.9

        @Option(
            name: .customLong("db"),
            help: ArgumentHelp("The database that vetoes disagreeing labels (default: the shipped one).", valueName: "file"))
        var databases: [String] = []

        @Option(name: .customShort("o"), help: ArgumentHelp("Where to write the learned database.", valueName: "file"))
        var output: String

        func validate() throws {
            if read.isEmpty && learned.isEmpty && learnedTLS.isEmpty && clickhouse == nil {
                throw ValidationError("give -r CAPTURE, --learned FILE, --learned-tls FILE or --clickhouse URL (or several)")
            }
            if !learnedTLS.isEmpty && tls == nil { throw ValidationError("--learned-tls needs --tls FILE, where the stacks go") }
            if clickhouse == nil && (since != nil || access.given) {
                throw ValidationError("--since, --clickhouse-credentials and --clickhouse-ca go with --clickhouse")
            }
            if let since, StoreReport.duration(since) == nil {
                throw ValidationError("--since takes a duration such as 15m, 24h or 7d, at most 36500d")
            }
            if minCount < 1 { throw ValidationError("--min-count must be at least 1") }
            if let labelWindow, !(0...Settings.longestSeconds).contains(labelWindow) {
                throw ValidationError("--label-window takes seconds from 0 to \(Settings.longestSeconds)")
            }
        }

        func run() throws {
            // Read first: a bad file stops the build before anything is written.
            // An observation's id names its connection (obs-TIME-ADDRESS-PORT): one seen before (a
            // file given twice, copies that overlap, a connection checked twice) counts once.
            var checkedHellos: [TLSStacks] = []
            var helloIDs: Set<String> = [], repeatedHellos = 0
            for path in learnedTLS {
                do {
                    let stacks = try TLSStacks.load(file: path).stacks
                    checkedHellos.append(TLSStacks(stacks: unseen(stacks, id: \.id, in: &helloIDs, repeated: &repeatedHellos)))
                } catch { throw Failure(error.description, status: .input) }
            }
            if repeatedHellos > 0 {
                printError("synprint db build: \(repeatedHellos) checked hellos read before (the same id) counted once")
            }
            let curated = try loadDatabase(databases)
            let matcher = Matcher(database: curated)
            let learner = Learner()
            learner.rules.disagreeConfidence = disagreeConfidence
            let labelsFile = try labels.map { path -> LabelsFile in
                do { return try LabelsFile.load(path: path) } catch let error as LabelsError {
                    throw Failure(error.description, status: .input)
                }
            }
            if let labelsFile, let path = labels {
                for problem in labelsFile.problems.prefix(20) { printError("\(path):\(problem.line): \(problem.message); row skipped") }
                if labelsFile.problems.count > 20 { printError("\(path): \(labelsFile.problems.count - 20) more bad rows skipped") }
                printError("\(path): \(labelsFile.count) rows read, \(labelsFile.problems.count) skipped")
            }
            let settings = Settings()
            let pipeline = PacketPipeline(
                matcher: matcher,
                tracker: ConnectionTracker(
                    capacity: settings.awaitingCapacity, timeout: settings.requestTimeout, headBudget: settings.headBudget))
            let window = labelWindow.map { WindowLabeler(window: $0, capacity: settings.hostCapacity) }
            let tlsLearner = tls.map { _ in TLSLearner() }
            let claims = ClaimCache()
            var syns = 0, labelled = 0
            func observe(_ syn: SynObservation, _ label: ClaimedOS?, _ userAgent: String?) {
                labelled += 1
                learner.observe(
                    syn.fingerprint, label: label, userAgent: userAgent, classification: syn.classification, seconds: syn.seconds)
            }
            var progress = Progress(files: read)
            var packets = 0
            StopSignal.install()
            var runner = SourceRunner(userFilter: nil, scope: .withPayload)
            try runner.run(read.map { path in { try PacketSource.open(file: path) } }, opened: { progress.opened($0) }) { packet, source in
                packets += 1
                if packets & 0xFFF == 0 { progress.tick(source, packets: packets) }
                pipeline.process(
                    packet, link: source.linkType,
                    syn: { syn in
                        guard syn.fingerprint.direction == .syn else { return }
                        syns += 1
                        let segment = syn.fingerprint.segment
                        if let row = labelsFile?.row(
                            for: segment.ip.source, port: segment.sourcePort, seconds: syn.seconds,
                            window: labelWindow ?? Settings().labelTolerance)
                        {
                            observe(syn, row.label, row.userAgent)
                        } else if let item = window?.syn(syn) {
                            observe(item.syn, item.label, item.userAgent)
                        }
                    },
                    request: { request in
                        tlsLearner?.observe(userAgent: request.request.userAgent, from: request.syn.fingerprint.ip.source)
                        // A SYN a labels row labelled was counted already.
                        let syn = request.syn
                        if labelsFile?.row(
                            for: syn.fingerprint.ip.source, port: syn.fingerprint.segment.sourcePort,
                            seconds: syn.seconds, window: labelWindow ?? Settings().labelTolerance) != nil
                        {
                            return
                        }
                        let ua = request.request.userAgent
                        let claimed = claims.claimedOS(request.request)
                        if let window {
                            for item in window.claim(syn.fingerprint.ip.source, label: claimed, userAgent: ua, at: request.seconds) {
                                observe(item.syn, item.label, item.userAgent)
                            }
                        } else {
                            observe(syn, claimed, ua)
                        }
                    },
                    hello: { tlsLearner?.observe($0.hello, from: $0.syn.fingerprint.ip.source) })
                return true
            }
            progress.finish()
            // Nothing read at all: keep whatever the output file held.
            if learned.isEmpty && learnedTLS.isEmpty && clickhouse == nil && progress.filesOpened == 0 {
                throw Failure("no capture could be read; \(output) was not written", status: .input)
            }
            var sources = [Database(entries: learner.entries(source: "synprint db build"))]
            var observationIDs: Set<String> = [], repeatedObservations = 0
            for path in learned {
                do {
                    let observations = try Database.load(files: [path], observations: true)
                    let fresh = unseen(observations.entries, id: \.id, in: &observationIDs, repeated: &repeatedObservations)
                    sources.append(Database(entries: fresh, links: observations.links))
                } catch let error as DatabaseError {
                    throw Failure(error.description)
                }
            }
            if repeatedObservations > 0 {
                printError("synprint db build: \(repeatedObservations) observations read before (the same id) counted once")
            }
            if let observations = try storeObservations(tls: tlsLearner) { sources.append(observations) }
            var merged = DatabaseMerge.merge(sources, prefer: .learned)
            // Observation files carry one id per observation; a learned entry's id follows its key.
            merged = Database(
                entries: merged.entries.map { entry in
                    var entry = entry
                    if entry.provenance == .learned { entry.id = LearnKey.id(for: entry) }
                    return entry
                }, links: merged.links)
            let (kept, dropped) = DatabaseMerge.dropRare(merged, minCount: minCount)
            try writeDatabase(
                kept,
                comment: "Learned by synprint db build from \(read.count) captures and \(learned.count) observation files"
                    + (clickhouse == nil ? "." : " and the fleet store."),
                to: output)
            let exclusions = Exclusion.allCases.compactMap { reason in learner.excluded[reason].map { "\(reason.rawValue) \($0)" } }
            printError(
                "synprint db build: \(syns) client SYNs read, \(labelled) labelled; \(learner.accepted) kept, "
                    + "excluded: \(exclusions.isEmpty ? "none" : exclusions.joined(separator: ", "))")
            printError(
                "  \(merged.entries.count) distinct keys; \(dropped.keys) keys (\(dropped.observations) observations) below --min-count \(minCount); "
                    + "\(kept.entries.count) entries written to \(output)")
            if let tls, let tlsLearner {
                for recorded in checkedHellos {
                    for hello in recorded.stacks {
                        let offer = TLSOffer(
                            ciphers: hello.preference, extensions: hello.extensions, groups: hello.groups, grease: hello.grease,
                            alpn: hello.alpn)
                        tlsLearner.observe(checked: offer, as: hello.family)
                    }
                }
                try writeTLSStacks(tlsLearner, to: tls)
            }
            if !runner.failures.isEmpty { throw ExitCode(2) }
        }

        /// The items whose id is not in `seen` (which takes theirs); the others are counted in
        /// `repeated`.
        func unseen<Item>(_ items: [Item], id: (Item) -> String, in seen: inout Set<String>, repeated: inout Int) -> [Item] {
            let fresh = items.filter { seen.insert(id($0)).inserted }
            repeated += items.count - fresh.count
            return fresh
        }

        /// The learned TLS stacks as a table file, whole or not at all.
        func writeTLSStacks(_ learner: TLSLearner, to path: String) throws {
            let stacks = learner.stacks(minCount: minCount)
            let lines =
                ["{\"synprint_tls\": \(TLSStacks.schemaVersion)}"]
                + stacks.map { learned in
                    TLSStacks.line(
                        learned.stack,
                        source: "synprint db build: \(learned.hellos) ClientHellos from \(learned.addresses) addresses whose "
                            + "plain-HTTP User-Agents claim \(learned.stack.family.rawValue)")
                }
            do {
                try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: path)
            } catch let error as OutputError {
                throw Failure(error.description, status: .output)
            }
            let labelled = learner.labelled
            printError(
                "  TLS: \(labelled.hellos) ClientHellos from \(labelled.addresses) addresses labelled by their User-Agents, "
                    + "\(labelled.checks) by their checks' User-Agents; \(stacks.count) stacks written to \(path)")
        }

        /// The labelled SYNs the fleet store keeps, as one observations database (the lines are
        /// those `--learn` writes, read through the same loader).
        /// `tls`: also the ClientHellos of the checked connections, labelled by their checks.
        func storeObservations(tls: TLSLearner?) throws -> Database? {
            guard let clickhouse else { return nil }
            let address = try access.address(clickhouse)
            let client = StoreClient(address: address, timeout: 60)
            defer { client.shutdown() }
            let scope = StoreReport.Scope(since: since.flatMap(StoreReport.duration))
            let lines: [String]
            let excluded: [(String, Int)]
            do {
                let report = StoreReport(client: client, scope: scope, database: Database(entries: []))
                lines = try report.observations()
                excluded = try report.exclusions()
                for hello in try tls.map({ _ in try report.checkedHellos() }) ?? [] {
                    tls?.observe(checked: hello.offer, userAgent: hello.userAgent)
                }
            } catch {
                throw Failure("ClickHouse at \(address.description): \(error)")
            }
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("synprint-store-\(getpid()).jsonl")
            defer { try? FileManager.default.removeItem(at: file) }
            let text = (["{\"synprint_db\": \(Database.schemaVersion)}"] + lines).joined(separator: "\n") + "\n"
            try text.write(to: file, atomically: true, encoding: .utf8)
            let reasons = excluded.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
            printError(
                "synprint db build: \(lines.count + excluded.reduce(0) { $0 + $1.1 }) requests from \(address.description); "
                    + "\(lines.count) labelled SYNs kept, excluded: \(reasons.isEmpty ? "none" : reasons)")
            do {
                return try Database.load(files: [file.path], observations: true)
            } catch let error as DatabaseError {
                throw Failure("the store's observations: \(error.description)")
            }
        }
    }
}
