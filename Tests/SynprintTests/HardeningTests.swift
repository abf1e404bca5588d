import Synchronization
import SynprintKit
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The hostile inputs found so far (Fixtures/robustness, with the command each broke) and the
/// daemon's duties: every one gives a clear error with nothing lost, never a trap.
final class HardeningTests: XCTestCase {
    static let robustness = repositoryRoot.appendingPathComponent("Tests/SynprintTests/Fixtures/robustness")
    static let sample = repositoryRoot.appendingPathComponent("tools/samples/mixed-os.pcap").path

    func robust(_ path: String) -> String { HardeningTests.robustness.appendingPathComponent(path).path }

    /// A run that trapped would end by a signal; every one of these ends with a status and a message.
    func assertClearError(_ run: CommandRun, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertGreaterThan(run.status, 0, run.stderr, file: file, line: line)
        XCTAssertLessThan(run.status, 128, "ended by a signal: \(run.stderr)", file: file, line: line)
        XCTAssertTrue(run.stderr.contains(expected), "\(run.stderr) lacks \(expected)", file: file, line: line)
    }

    func testOverflowingCountsAreRejectedWithTheirLine() throws {
        for name in ["count_max_single", "count_two_halves", "count_max_minus1", "count_1e18"] {
            let path = robust("db/\(name).jsonl")
            assertClearError(try runSynprint(["db", "validate", path]), ":2: field 'counts'")
            assertClearError(try runSynprint(["-r", HardeningTests.sample, "--classify", "--db", path]), ":2: field 'counts'")
            assertClearError(try runSynprint(["db", "stats", path]), ":2: field 'counts'")
            assertClearError(try runSynprint(["db", "merge", path, path, "-o", "/dev/null"]), ":2: field 'counts'")
        }
    }

    func testLabelTimesOutOfRangeAreReportedWithTheirLine() throws {
        let folder = try temporaryFolder()
        let output = folder.appendingPathComponent("learned.jsonl")
        for name in [
            "time_nan.csv", "time_inf.csv", "time_1e300.csv", "time_int_min.csv", "time_nan.jsonl", "time_9.2e18.csv",
            "time_-9.2e18.csv", "time_big.jsonl",
        ] {
            let run = try runSynprint(["db", "build", "-r", HardeningTests.sample, "--labels", robust("labels/\(name)"), "-o", output.path])
            XCTAssertEqual(run.status, 0, "\(name): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains(name.hasSuffix(".csv") ? ":2: time" : ":1: time"), "\(name): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains("1 skipped"), "\(name): \(run.stderr)")
        }
        // The year 9999 is a time a capture may hold: read, and compared without trapping.
        let run = try runSynprint([
            "db", "build", "-r", HardeningTests.sample, "--labels", robust("labels/time_rfc3339_year_9999.csv"), "-o", output.path,
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("1 rows read, 0 skipped"), run.stderr)
    }

    func testDurationsBeyondAYearAreRefused() throws {
        let huge = "9300000000000"
        for arguments in [
            ["-r", HardeningTests.sample, "--flow-stats", "--flow-window-seconds", huge],
            ["-r", HardeningTests.sample, "--connections", "--connection-timeout", huge],
            ["report", HardeningTests.sample, "--connection-timeout", huge],
            ["db", "build", "-r", HardeningTests.sample, "--label-window", huge, "-o", "/dev/null"],
        ] {
            let run = try runSynprint(arguments)
            XCTAssertEqual(run.status, 64, run.stderr)
            assertClearError(run, "31536000")
        }
    }

    /// pcapng can date a packet anywhere in 64 bits (libpcap hands the seconds on as they are):
    /// every analysis, the workers, the report and the database builds take such captures.
    func testCaptureTimesAnywhereInSixtyFourBitsNeverTrap() throws {
        let folder = try temporaryFolder()
        let times: [Int64] = [.max, .min, 0, 9_223_372_036_854, -9_223_372_036_854, 1_700_000_000, .max - 1]
        let capture = folder.appendingPathComponent("times.pcapng")
        let frames = try [repositoryRoot.appendingPathComponent("tools/samples/verdicts.pcap"), fixture("connections.pcap")]
            .flatMap { try packets(of: $0).packets.map(\.bytes) }
        try writePcapng(frames.enumerated().map { (times[$0.offset % times.count], $0.element) }, to: capture)
        let labels = folder.appendingPathComponent("labels.csv")
        try "ip,time,os_class\n10.163.52.227,1700000000,Linux\n10.78.1.2,9000000000,Linux\n".write(
            to: labels, atomically: true, encoding: .utf8)
        let database = folder.appendingPathComponent("built.jsonl").path
        for arguments in [
            ["-r", capture.path, "--http", "--connections", "--flow-stats", "--json", "--alerts", "/dev/null", "--max-hosts", "1"],
            ["-r", capture.path, "--http", "--connections", "--flow-stats", "--json", "--max-awaiting", "1", "--workers", "3"],
            ["report", capture.path],
            ["db", "build", "-r", capture.path, "--label-window", "300", "--min-count", "1", "-o", database],
            ["db", "build", "-r", capture.path, "--labels", labels.path, "--min-count", "1", "-o", database],
        ] {
            let run = try runSynprint(arguments)
            XCTAssertEqual(run.status, 0, "\(arguments): \(run.stderr)")
            if arguments.first == "-r" { XCTAssertTrue(run.stderr.contains("\(frames.count) packets read"), run.stderr) }
        }
    }

    /// A configuration file's aliases cannot make it a tree of billions of values (nine levels of
    /// ten aliases each), and a value that is a list or mapping is refused at once.
    func testConfigurationAliasesCannotExpandWithoutBound() throws {
        var nested = "[\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]"
        for level in 0..<9 {
            nested = "[&a\(level) \(nested)" + String(repeating: ",*a\(level)", count: 9) + "]"
        }
        let file = try temporaryFolder().appendingPathComponent("laughs.yaml")
        try "db: [\(nested)]\n".write(to: file, atomically: true, encoding: .utf8)
        let started = Date()
        let run = try runSynprint(["--config", file.path, "-r", HardeningTests.sample, "--classify"])
        XCTAssertEqual(run.status, 64, run.stderr)
        assertClearError(run, "'db' takes a value or a list of values")
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
    }

    /// A configuration nested thousands of levels deep (flow brackets, block mappings, compact
    /// sequences) is refused before the YAML parser recurses through it; one from a FIFO is read,
    /// and a folder is named as one.
    func testDeepConfigurationsAreRefusedAndPipesAreRead() throws {
        let folder = try temporaryFolder()
        let deep = [
            "json: " + String(repeating: "[", count: 5000),
            (0..<1000).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n"),
            "json: " + String(repeating: "- ", count: 5000) + "x",
        ]
        for (n, text) in deep.enumerated() {
            let file = folder.appendingPathComponent("deep\(n).yaml")
            try text.write(to: file, atomically: true, encoding: .utf8)
            let run = try runSynprint(["--config", file.path, "-r", HardeningTests.sample])
            XCTAssertEqual(run.status, 64, "\(n): \(run.stderr.prefix(300))")
            assertClearError(run, "levels deep")
        }
        let fifo = folder.appendingPathComponent("config.fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/bin/sh")
        writer.arguments = ["-c", "printf 'json: true\\nclassify: true\\n' > \"$0\"", fifo.path]
        try writer.run()
        let piped = try runSynprint(["--config", fifo.path, "-r", HardeningTests.sample])
        writer.waitUntilExit()
        XCTAssertEqual(piped.status, 0, piped.stderr)
        XCTAssertTrue(piped.stdout.hasPrefix("{\"type\":\"syn"), piped.stdout.prefix(200).description)
        let directory = try runSynprint(["--config", folder.path, "-r", HardeningTests.sample])
        XCTAssertEqual(directory.status, 2, directory.stderr)
        assertClearError(directory, "a directory")
    }

    /// The database files and charts: a pipe or device at the path is written to, not replaced
    /// by a file; a symbolic link or a folder is refused, and left as it was.
    func testWholeFileOutputsWriteThroughPipesAndRefuseLinks() throws {
        let folder = try temporaryFolder()
        let shipped = repositoryRoot.appendingPathComponent("database/synprint.db.jsonl").path
        let fifo = folder.appendingPathComponent("merged.fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        let received = folder.appendingPathComponent("received")
        let reader = Process()
        reader.executableURL = URL(fileURLWithPath: "/bin/sh")
        reader.arguments = ["-c", "exec cat \"$0\" > \"$1\"", fifo.path, received.path]
        try reader.run()
        let merged = try runSynprint(["db", "merge", shipped, "-o", fifo.path])
        XCTAssertEqual(merged.status, 0, merged.stderr)
        reader.waitUntilExit()
        XCTAssertTrue(try String(contentsOf: received, encoding: .utf8).contains("\"id\""))
        var info = stat()
        XCTAssertEqual(lstat(fifo.path, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFIFO, "the pipe is still a pipe")
        let target = folder.appendingPathComponent("target")
        try "precious\n".write(to: target, atomically: true, encoding: .utf8)
        let link = folder.appendingPathComponent("link")
        XCTAssertEqual(symlink(target.path, link.path), 0)
        assertClearError(try runSynprint(["db", "merge", shipped, "-o", link.path]), "is a symbolic link")
        XCTAssertEqual(lstat(link.path, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFLNK)
        XCTAssertEqual(try String(contentsOf: target, encoding: .utf8), "precious\n")
        assertClearError(try runSynprint(["db", "merge", shipped, "-o", folder.path]), "is not a file")
    }

    func testWeightsAndRulesMustBeFiniteAndInRange() throws {
        for weight in ["layout=1e39", "layout=nan", "layout=inf", "layout=-1", "min_confidence=2", "sharpness=1e9"] {
            assertClearError(try runSynprint(["-r", HardeningTests.sample, "--classify", "--weight", weight]), "weight")
        }
        for rule in ["os_mismatch=nan", "threshold=inf", "confidence=1.5"] {
            assertClearError(try runSynprint(["-r", HardeningTests.sample, "--http", "--verdict-rule", rule]), "from 0 to 1")
        }
        assertClearError(try runSynprint(["-r", HardeningTests.sample, "--http", "--alert-threshold", "nan"]), "score from 0 to 1")
    }

    func testImportOfANonP0fFileLeavesTheOutputAlone() throws {
        let folder = try temporaryFolder()
        let notP0f = folder.appendingPathComponent("notes.txt")
        try "just some notes\nabout nothing\n".write(to: notP0f, atomically: true, encoding: .utf8)
        let existing = folder.appendingPathComponent("mine.db.jsonl")
        try "keep me\n".write(to: existing, atomically: true, encoding: .utf8)
        let run = try runSynprint(["db", "import-p0f", notP0f.path, "-o", existing.path])
        assertClearError(run, "no p0f signatures found")
        XCTAssertEqual(run.status, 2, "an input that is not what it should be")
        XCTAssertEqual(try String(contentsOf: existing, encoding: .utf8), "keep me\n")
    }

    /// An unsupported or unfilterable link type in one of several files: that file is reported,
    /// the others are read, and the summary still prints.
    func testOneBadCaptureAmongSeveralDoesNotStopTheRun() throws {
        let run = try runSynprint([
            "-r", HardeningTests.sample, "-r", robust("captures/linktype-14.pcap"), "-r", HardeningTests.sample, "--json",
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        let syns = jsonLines(run.stdout).filter { $0["type"] as? String == "syn" }
        XCTAssertEqual(syns.count, 2 * 14 + 10, run.stderr)  // both copies of the sample, and the raw-IP file's own
        XCTAssertTrue(run.stderr.contains("packets read"), run.stderr)
        XCTAssertTrue(run.stderr.contains("linktype-14.pcap: read without a kernel filter"), run.stderr)
        let filtered = try runSynprint(["-r", robust("captures/linktype-14.pcap"), "-r", HardeningTests.sample, "--json", "port", "80"])
        XCTAssertEqual(filtered.status, 2, filtered.stderr)
        XCTAssertTrue(filtered.stderr.contains("linktype-14.pcap: skipped"), filtered.stderr)
        XCTAssertFalse(jsonLines(filtered.stdout).isEmpty)
    }

    func testTheUsersFilterCannotEscapeItsParentheses() throws {
        assertClearError(try runSynprint(["-r", HardeningTests.sample, "tcp) or (udp"]), "bad filter")
    }

    func testTextOutputEscapesControlCharactersFromPackets() throws {
        let run = try runSynprint(["-r", robust("captures/terminal-injection.pcap"), "--http"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertFalse(run.stdout.utf8.contains { ($0 < 0x20 && $0 != 0x0A) || $0 == 0x7F }, "a control character reached the output")
        XCTAssertTrue(run.stdout.contains("evil\\x1b]0;pwned-title\\x07"), run.stdout)
        // No line of the output was forged by the User-Agent's carriage return.
        XCTAssertEqual(run.stdout.split(separator: "\n").filter { $0.hasPrefix("| os ") }.count, 1)
    }

    func testOutputsRefuseSymlinksAndOtherFilesAndAreCreatedPrivate() throws {
        let folder = try temporaryFolder()
        let target = folder.appendingPathComponent("target")
        try "precious\n".write(to: target, atomically: true, encoding: .utf8)
        let link = folder.appendingPathComponent("link")
        XCTAssertEqual(symlink(target.path, link.path), 0)
        for option in ["-o", "--alerts", "--learn"] {
            assertClearError(try runSynprint(["-r", HardeningTests.sample, "--http", option, link.path]), "symbolic link")
        }
        XCTAssertEqual(try String(contentsOf: target, encoding: .utf8), "precious\n")
        assertClearError(try runSynprint(["-r", HardeningTests.sample, "-o", folder.path]), "Is a directory")
        let created = folder.appendingPathComponent("events.jsonl")
        XCTAssertEqual(try runSynprint(["-r", HardeningTests.sample, "--json", "-o", created.path]).status, 0)
        var status = stat()
        XCTAssertEqual(stat(created.path, &status), 0)
        XCTAssertEqual(status.st_mode & 0o777, 0o600)
        // Appended to by default; --truncate empties it first.
        let lines = try String(contentsOf: created, encoding: .utf8).split(separator: "\n").count
        XCTAssertEqual(try runSynprint(["-r", HardeningTests.sample, "--json", "-o", created.path]).status, 0)
        XCTAssertEqual(try String(contentsOf: created, encoding: .utf8).split(separator: "\n").count, 2 * lines)
        XCTAssertEqual(try runSynprint(["-r", HardeningTests.sample, "--json", "--truncate", "-o", created.path]).status, 0)
        XCTAssertEqual(try String(contentsOf: created, encoding: .utf8).split(separator: "\n").count, lines)
    }

    func testWriteErrorsAreReportedAndEndTheRunNonZero() throws {
        let events = try runSynprint(["-r", HardeningTests.sample, "--json", "-o", "/dev/full"])
        XCTAssertEqual(events.status, 3, events.stderr)
        XCTAssertTrue(events.stderr.contains("cannot write to /dev/full: No space left on device"), events.stderr)
        XCTAssertEqual(events.stderr.components(separatedBy: "cannot write to").count, 2, "reported once")
        let alerts = try runSynprint(["-r", CommandTests.fixture.path, "--alerts", "/dev/full", "-o", "/dev/null"])
        XCTAssertEqual(alerts.status, 3, alerts.stderr)
    }

    /// A pipe that brings packets slowly gets its stats events on time, while it is still open
    /// (the status was refreshed only every 4,096 packets).
    func testSlowPipeGetsItsStatsOnTime() throws {
        let folder = try temporaryFolder()
        let fifo = folder.appendingPathComponent("capture.fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        let events = folder.appendingPathComponent("events.jsonl")
        let process = try startSynprint(["-r", fifo.path, "--json", "-o", events.path, "--stats-interval", "1", "--stats-events"])
        let writer = try FileHandle(forWritingTo: fifo)
        let capture = try Data(contentsOf: URL(fileURLWithPath: HardeningTests.sample))
        let records = capture.dropFirst(24)  // 26 packets after the file header
        try writer.write(contentsOf: capture + records + records)
        usleep(1_200_000)
        try writer.write(contentsOf: records + records + records)
        try waitFor(seconds: 5) { (try? String(contentsOf: events, encoding: .utf8))?.contains("\"type\":\"stats\"") == true }
        try writer.close()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
    }

    /// SIGHUP reopens every output, -o included, and never ends the run.
    func testSighupWithoutAlertsNeitherKillsNorCutsALine() throws {
        let folder = try temporaryFolder()
        let fifo = folder.appendingPathComponent("capture.fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        let events = folder.appendingPathComponent("events.jsonl")
        let process = try startSynprint(["-r", fifo.path, "--json", "-o", events.path])
        let writer = try FileHandle(forWritingTo: fifo)
        let capture = try Data(contentsOf: URL(fileURLWithPath: HardeningTests.sample))
        try writer.write(contentsOf: capture)
        try waitFor { self.lines(events) == 26 }  // 14 SYNs and 12 SYN+ACKs
        XCTAssertEqual(rename(events.path, events.path + ".1"), 0)
        kill(process.processIdentifier, SIGHUP)
        usleep(200_000)
        try writer.write(contentsOf: capture.dropFirst(24))
        try writer.close()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertEqual(lines(URL(fileURLWithPath: events.path + ".1")), 26)
        XCTAssertEqual(lines(events), 26)
        XCTAssertTrue(try String(contentsOf: events, encoding: .utf8).hasSuffix("}\n"))
    }

    /// An output path that became a FIFO no one reads, then SIGHUP: the reopen waits for a
    /// reader as a write waits for room, and SIGTERM still ends the run at once, with one line.
    func testReopeningAFIFONoOneReadsDoesNotHoldTheStop() throws {
        let folder = try temporaryFolder()
        let fifo = folder.appendingPathComponent("capture.fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        let events = folder.appendingPathComponent("events.jsonl")
        let errors = Pipe()
        let process = try startSynprint(["-r", fifo.path, "--json", "-o", events.path], stderr: errors)
        let writer = try FileHandle(forWritingTo: fifo)
        let capture = try Data(contentsOf: URL(fileURLWithPath: HardeningTests.sample))
        try writer.write(contentsOf: capture)
        try waitFor { self.lines(events) == 26 }
        XCTAssertEqual(unlink(events.path), 0)
        XCTAssertEqual(mkfifo(events.path, 0o600), 0)
        kill(process.processIdentifier, SIGHUP)
        usleep(200_000)
        try writer.write(contentsOf: capture.dropFirst(24))
        usleep(500_000)
        kill(process.processIdentifier, SIGTERM)
        let stopped = (try? waitFor(seconds: 5) { !process.isRunning }) != nil
        if !stopped { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        XCTAssertTrue(stopped, "still running 5 s after SIGTERM")
        XCTAssertEqual(process.terminationStatus, 128 + SIGTERM)
        try writer.close()
        let stderr = String(decoding: try XCTUnwrap(errors.fileHandleForReading.readToEnd()), as: UTF8.self)
        XCTAssertTrue(stderr.contains("\(events.path) is a FIFO that no one reads"), stderr)
    }

    /// A disk that fills in the middle of a line: the broken line is cut, so once there is room
    /// again the next line starts a line of its own; the loss is counted.
    func testAFullDiskLeavesNoBrokenLine() throws {
        let disk = try smallFileSystem(bytes: 64 << 10, for: self)
        let path = disk.appendingPathComponent("events.jsonl")
        let filler = disk.appendingPathComponent("filler")
        fill(filler, bytes: 40 << 10)
        let output = try OutputFile(path: path.path)
        let line = "{\"type\":\"syn\",\"pad\":\"" + String(repeating: "a", count: 300) + "\"}\n"
        let lines = String(repeating: line, count: 200)  // 63 KiB: more than the disk holds
        output.write(lines)
        XCTAssertTrue(output.failed)
        XCTAssertEqual(output.state.lastError, ENOSPC)
        let kept = try Data(contentsOf: path)
        XCTAssertEqual(kept.last, 0x0A)
        XCTAssertEqual(kept.count % line.utf8.count, 0)
        XCTAssertEqual(output.state.droppedBytes, lines.utf8.count - kept.count)
        XCTAssertEqual(output.state.droppedLines, 200 - kept.count / line.utf8.count)
        try FileManager.default.removeItem(at: filler)
        output.write("{\"type\":\"synack\"}\n")
        let after = String(decoding: try Data(contentsOf: path), as: UTF8.self)
        XCTAssertEqual(jsonLines(after).count, kept.count / line.utf8.count + 1)
    }

    /// A spool on a full disk: one line says so, the rows are counted dropped once, and the
    /// summary and exit status tell.
    func testASpoolOnAFullDiskSaysSoAndCountsOnce() throws {
        let disk = try smallFileSystem(bytes: 64 << 10, for: self)
        fill(disk.appendingPathComponent("filler"))
        let port = try freePorts(1)[0]  // nothing listens: every batch goes to the spool
        let run = try runSynprint([
            "-r", HardeningTests.sample, "-o", "/dev/null", "--clickhouse", "http://127.0.0.1:\(port)/synprint",
            "--clickhouse-spool", disk.appendingPathComponent("spool").path, "--clickhouse-drain", "0", "--summary", "text",
        ])
        XCTAssertEqual(run.status, 3, run.stderr)
        XCTAssertTrue(run.stderr.contains("cannot write to the spool"), run.stderr)
        XCTAssertTrue(run.stderr.contains("No space left on device"), run.stderr)
        XCTAssertTrue(run.stderr.contains("26 rows dropped"), run.stderr)  // 14 SYNs and 12 SYN+ACKs
    }

    /// SIGTERM ends the run within a few seconds even when nothing reads the output, or nothing
    /// writes the input; a second signal ends it at once. Every line written is whole.
    func testStopSignalsEndStalledRunsPromptly() throws {
        let folder = try temporaryFolder()
        // Input that stalls: a FIFO held open and never written.
        let fifo = folder.appendingPathComponent("stalled.fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        let stalledInput = try startSynprint(["-r", fifo.path, "--json", "-o", "/dev/null"])
        let holder = try FileHandle(forWritingTo: fifo)
        try holder.write(contentsOf: try Data(contentsOf: URL(fileURLWithPath: HardeningTests.sample)))
        usleep(300_000)
        let started = Date()
        kill(stalledInput.processIdentifier, SIGTERM)
        stalledInput.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertEqual(stalledInput.terminationStatus, 128 + SIGTERM)
        try holder.close()
        // Output that stalls: a pipe nobody reads while a large capture is written to it.
        let pipe = Pipe()
        let big = try largeCapture(in: folder)
        let stalledOutput = try startSynprint(["-r", big.path, "--json"], stdout: pipe)
        try pipe.fileHandleForWriting.close()
        usleep(500_000)
        let stopping = Date()
        kill(stalledOutput.processIdentifier, SIGTERM)
        stalledOutput.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(stopping), 6)
        XCTAssertNotEqual(stalledOutput.terminationStatus, 0)
        let written = try XCTUnwrap(pipe.fileHandleForReading.readToEnd())
        XCTAssertGreaterThan(written.count, 0)
        XCTAssertEqual(written.last, 0x0A, "the last line written is whole")
    }

    /// An output whose reader stopped reading holds the capture back, not the metrics: scrapes
    /// (each on one of the few threads the API has) still answer at once.
    func testAStalledOutputDoesNotHoldTheMetrics() throws {
        let folder = try temporaryFolder()
        let pipe = Pipe()
        let port = try freePorts(1)[0]
        let big = try largeCapture(in: folder)
        let process = try startSynprint(
            ["-r", big.path, "--json", "--allow-root", "--metrics", "127.0.0.1:\(port)"], stdout: pipe)
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        usleep(1_000_000)  // the pipe is full: the output thread waits in a write
        for scrape in 0..<4 {
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            curl.arguments = ["-s", "--max-time", "3", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/metrics"]
            let out = Pipe()
            curl.standardOutput = out
            try curl.run()
            curl.waitUntilExit()
            let code = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertEqual(code, "200", "scrape \(scrape)")
        }
        XCTAssertTrue(process.isRunning, "the capture waits for its reader")
    }

    /// An interrupted db build leaves the old database as it was and exits non-zero.
    func testInterruptedBuildLeavesTheOutputIntact() throws {
        let folder = try temporaryFolder()
        let output = folder.appendingPathComponent("learned.jsonl")
        try "old\n".write(to: output, atomically: true, encoding: .utf8)
        let fifo = folder.appendingPathComponent("capture.fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        let process = try startSynprint(["db", "build", "-r", fifo.path, "-o", output.path])
        let writer = try FileHandle(forWritingTo: fifo)
        try writer.write(contentsOf: try Data(contentsOf: URL(fileURLWithPath: HardeningTests.sample)))
        usleep(300_000)
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        try? writer.close()
        XCTAssertNotEqual(process.terminationStatus, 0)
        XCTAssertEqual(try String(contentsOf: output, encoding: .utf8), "old\n")
    }

    func testApiKeysComeFromAFileAndRootNeedsToBeAllowed() throws {
        assertClearError(
            try runSynprint(["-r", HardeningTests.sample, "--api", "0", "--api-key-file", "/nonexistent/key"]), "cannot read an API key")
        if geteuid() == 0 {
            assertClearError(try runSynprint(["-r", HardeningTests.sample, "--api", "0"]), "refusing to serve the APIs or metrics as root")
        }
        assertClearError(try runSynprint(["-r", HardeningTests.sample, "--chroot", "/"]), "--chroot needs -u")
        assertClearError(try runSynprint(["-r", HardeningTests.sample, "--memcap", "12"]), "--memcap")
    }

    /// With -u, once the capture and outputs are open the process runs as the user, with no
    /// capabilities and no-new-privileges; what it writes goes on.
    func testDroppingPrivileges() throws {
        guard geteuid() == 0 else { throw XCTSkip("dropping privileges needs the tests to run as root") }
        let folder = try temporaryFolder()
        let fifo = folder.appendingPathComponent("capture.fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        let events = folder.appendingPathComponent("events.jsonl")
        let process = try startSynprint(["-r", fifo.path, "--json", "-o", events.path, "-u", "nobody"])
        let writer = try FileHandle(forWritingTo: fifo)
        try writer.write(contentsOf: try Data(contentsOf: URL(fileURLWithPath: HardeningTests.sample)))
        try waitFor { self.lines(events) == 26 }
        let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        let field = { (name: String) in
            status.split(separator: "\n").first { $0.hasPrefix(name + ":") }.map {
                String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces)
            }
        }
        let nobody = try XCTUnwrap(getpwnam("nobody")).pointee.pw_uid
        XCTAssertEqual(field("Uid")?.split(separator: "\t").first.map(String.init), String(nobody))
        XCTAssertEqual(field("CapEff"), "0000000000000000")
        XCTAssertEqual(field("NoNewPrivs"), "1")
        try writer.close()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        assertClearError(try runSynprint(["-r", HardeningTests.sample, "-u", "no-such-user-here"]), "no such user")
    }

    // MARK: helpers

    func lines(_ url: URL) -> Int {
        ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    /// The sample repeated until the JSON it gives is far more than a pipe holds.
    func largeCapture(in folder: URL) throws -> URL {
        let sample = try Data(contentsOf: URL(fileURLWithPath: HardeningTests.sample))
        var data = sample
        for _ in 0..<400 { data.append(sample.dropFirst(24)) }
        let url = folder.appendingPathComponent("large.pcap")
        try data.write(to: url)
        return url
    }
}
