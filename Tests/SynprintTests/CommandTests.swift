import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `synprint` executable, as a user does.
final class CommandTests: XCTestCase {
    /// The verdict fixture (tools/gencap.py verdicts): one connection per case, in this order.
    static let verdictCases: [(name: String, reasons: Set<String>, flagged: Bool)] = [
        ("linux-stack-windows-ua", ["os_mismatch"], true),
        ("windows-stack-windows-ua", [], false),
        ("windows-mss-1380", ["tunnel_mtu", "mss_clamped"], false),
        ("linux-stack-chromeos-ua", [], false),
        ("split-request", [], false),
        ("proxy-headers", ["proxy_headers"], true),
    ]
    static let fixture = repositoryRoot.appendingPathComponent("tools/samples/verdicts.pcap")

    func testVerdictFixtureGivesTheExpectedReasonsAndAlerts() throws {
        let folder = try temporaryFolder()
        let alerts = folder.appendingPathComponent("alerts.jsonl")
        let run = try runSynprint(["-r", CommandTests.fixture.path, "--http", "--json", "--alerts", alerts.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let requests = jsonLines(run.stdout).filter { $0["type"] as? String == "http" }
        XCTAssertEqual(requests.count, CommandTests.verdictCases.count)
        for (request, expected) in zip(requests, CommandTests.verdictCases) {
            let verdict = try XCTUnwrap(request["verdict"] as? [String: Any], expected.name)
            XCTAssertEqual(Set(verdict["reasons"] as? [String] ?? []), expected.reasons, expected.name)
            XCTAssertEqual(verdict["flagged"] as? Bool, expected.flagged, expected.name)
            XCTAssertNotNil(request["user_agent"] as? String, expected.name)
        }
        XCTAssertEqual(
            (requests[3]["verdict"] as? [String: Any])?["ua_os"] as? [String: String],
            ["class": "ChromeOS", "family": "Linux-like"])
        let alertLines = jsonLines(try String(contentsOf: alerts, encoding: .utf8))
        XCTAssertEqual(alertLines.map { $0["type"] as? String }, ["alert", "alert"])
        XCTAssertEqual(alertLines.filter { (($0["verdict"] as? [String: Any])?["reasons"] as? [String]) == ["os_mismatch"] }.count, 1)
        let first = alertLines[0]
        for key in ["ts", "src_ip", "src_port", "dst_ip", "dst_port", "user_agent", "raw_sig", "ja4t", "path", "os", "verdict"] {
            XCTAssertNotNil(first[key], key)
        }
        // The alert file is appended to, never truncated.
        _ = try runSynprint(["-r", CommandTests.fixture.path, "--http", "--alerts", alerts.path])
        XCTAssertEqual(jsonLines(try String(contentsOf: alerts, encoding: .utf8)).count, 4)
    }

    /// docs/USAGE.md has a row for every option `--help` lists, so the reference cannot drift.
    func testUsageDocumentsEveryOptionOfHelp() throws {
        let help = try runSynprint(["--help"])
        XCTAssertEqual(help.status, 0)
        let options = Set(
            help.stdout.split(separator: "\n").compactMap { line -> String? in
                guard let match = line.range(of: "^ +(-[a-zA-Z], )?--[a-z0-9-]+", options: .regularExpression) else { return nil }
                return String(line[match].split(separator: " ").last!)
            })
        XCTAssertGreaterThan(options.count, 40)
        let usage = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/USAGE.md"), encoding: .utf8)
        let rows = usage.split(separator: "\n").filter { $0.hasPrefix("| `") }.map { $0.split(separator: "|").first ?? "" }
        let documented = Set(rows.flatMap { cell in cell.split(separator: "`").map { String($0.split(separator: " ").first ?? "") } })
        let prose = usage.contains("`--help` lists every option") && usage.contains("`--version`")
        XCTAssertTrue(prose)
        for option in options.subtracting(["--help", "--version"]).sorted() {
            XCTAssertTrue(documented.contains(option), "docs/USAGE.md has no row for \(option)")
        }
    }

    /// Every failure is one line `synprint: …` with the documented status (docs/USAGE.md).
    func testFailuresAreOneLineWithTheirStatus() throws {
        let folder = try temporaryFolder()
        let sample = repositoryRoot.appendingPathComponent("tools/samples/mixed-os.pcap").path
        let configuration = folder.appendingPathComponent("synprint.yaml")
        try "json: true\nfrobnicate: 1\n".write(to: configuration, atomically: true, encoding: .utf8)
        // A switch with a value other than true or false (the command line would take it as
        // filter words).
        let switched = folder.appendingPathComponent("switched.yaml")
        try "filter: tcp port 80\nclassify: port 443\n".write(to: switched, atomically: true, encoding: .utf8)
        let cases: [(arguments: [String], status: Int32, says: String)] = [
            (["--config", folder.appendingPathComponent("missing.yaml").path], 2, "cannot read the configuration file: No such file"),
            (["--config", configuration.path, "-r", sample], 64, "synprint.yaml:2: Unknown option '--frobnicate'"),
            (["--config", switched.path, "-r", sample], 64, "switched.yaml:2: classify takes true or false"),
            (["-r", sample, "-c", "-5"], 64, "-c must be at least 1"),
            (["-r", "-", "-r", sample, "-r", "-"], 64, "-r - is given twice"),
            (["-r", sample, "--workers", "0"], 64, "--workers takes 1 to 64"),
            (["-r", sample, "--workers", "-1"], 64, "--workers takes 1 to 64"),
            (
                ["-r", sample, "--classify", "--db", folder.appendingPathComponent("none.jsonl").path], 2,
                "none.jsonl: cannot read the file: No such file"
            ),
            (["-r", sample, "-o", folder.appendingPathComponent("no/such/folder.jsonl").path], 3, "folder.jsonl"),
        ]
        for (arguments, status, says) in cases {
            let run = try runSynprint(arguments)
            XCTAssertEqual(run.status, status, "\(arguments): \(run.stderr)")
            let lines = run.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(arguments): \(run.stderr)")
            XCTAssertTrue(lines.first?.hasPrefix("synprint: ") == true, "\(arguments): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains(says), "\(arguments): \(run.stderr)")
        }
    }

    /// `-o` given twice writes the same events to both files; `-o -` is standard output.
    func testRepeatedOutputWritesEveryEventToEachFile() throws {
        let folder = try temporaryFolder()
        let first = folder.appendingPathComponent("a.jsonl"), second = folder.appendingPathComponent("b.jsonl")
        let run = try runSynprint(["-r", CommandTests.fixture.path, "--http", "--json", "-o", first.path, "-o", second.path, "-o", "-"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let events = try String(contentsOf: first, encoding: .utf8)
        XCTAssertEqual(jsonLines(events).filter { $0["type"] as? String == "http" }.count, CommandTests.verdictCases.count)
        XCTAssertEqual(events, try String(contentsOf: second, encoding: .utf8))
        XCTAssertEqual(events, run.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "-"), "-o - made a file named -")
    }

    func testP0fLogFormat() throws {
        let run = try runSynprint(["-r", CommandTests.fixture.path, "--http", "--log-format", "p0f"])
        let lines = run.stdout.split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.contains("] mod=syn|") }.count, 6)
        XCTAssertEqual(lines.filter { $0.contains("] mod=syn+ack|") }.count, 6)
        XCTAssertEqual(lines.filter { $0.contains("] mod=http request|") }.count, 6)
        let syn = try XCTUnwrap(lines.first { $0.contains("mod=syn|") })
        XCTAssertTrue(syn.hasPrefix("[2023/11/14 22:13:20] mod=syn|cli="), String(syn))
        XCTAssertTrue(syn.contains("|subj=cli|os=Linux"), String(syn))
        XCTAssertTrue(syn.contains("|raw_sig=4:"), String(syn))
        XCTAssertTrue(lines.contains { $0.contains("mod=mtu|") && $0.hasSuffix("|link=WireGuard|raw_mtu=1420") })
    }

    /// logrotate renames the file and sends SIGHUP: the next alert must land in a new file.
    func testSighupReopensTheAlertFile() throws {
        let folder = try temporaryFolder()
        let fifo = folder.appendingPathComponent("capture.fifo")
        let alerts = folder.appendingPathComponent("alerts.jsonl")
        let rotated = folder.appendingPathComponent("alerts.jsonl.1")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        let process = try startSynprint(["-r", fifo.path, "--http", "--alerts", alerts.path, "-o", "/dev/null"])
        let capture = try Data(contentsOf: CommandTests.fixture)
        let writer = try FileHandle(forWritingTo: fifo)
        writer.write(capture)  // two alerts
        try waitFor { self.lineCount(alerts) == 2 }
        XCTAssertEqual(rename(alerts.path, rotated.path), 0)
        kill(process.processIdentifier, SIGHUP)
        usleep(100_000)
        writer.write(capture.dropFirst(24))  // the same connections again, without the file header
        try waitFor { self.lineCount(alerts) == 2 }
        try writer.close()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertEqual(lineCount(rotated), 2)
        XCTAssertEqual(lineCount(alerts), 2)
    }

    /// `--learn` records each judged request's SYN as a one-count learned entry; `db build
    /// --learned` merges such files into a database that classifies the same stacks, each
    /// observation once.
    func testLearnRecordsObservationsThatDbBuildMerges() throws {
        let folder = try temporaryFolder()
        let observations = folder.appendingPathComponent("observations.jsonl")
        let run = try runSynprint(["-r", CommandTests.fixture.path, "--learn", observations.path, "-o", "/dev/null"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("learn: "), run.stderr)
        let lines = try String(contentsOf: observations, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.first, "{\"synprint_db\": 1}")
        let entries = lines.dropFirst().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        // Six requests; the Linux stack with a Windows User-Agent is the VPN/proxy case and is left out.
        XCTAssertEqual(entries.count, 5)
        XCTAssertTrue(entries.allSatisfy { $0["provenance"] as? String == "learned" && ($0["id"] as? String)?.hasPrefix("obs-") == true })
        XCTAssertEqual(Set(entries.compactMap { $0["class"] as? String }), ["Windows", "ChromeOS"])
        // Recording again appends after the header, never truncates.
        _ = try runSynprint(["-r", CommandTests.fixture.path, "--learn", observations.path, "-o", "/dev/null"])
        XCTAssertEqual(try String(contentsOf: observations, encoding: .utf8).split(separator: "\n").count, 1 + 2 * entries.count)
        let learned = folder.appendingPathComponent("learned.jsonl")
        let build = try runSynprint(["db", "build", "--learned", observations.path, "--min-count", "1", "-o", learned.path])
        XCTAssertEqual(build.status, 0, build.stderr)
        // A database file: a comment line, then the header and the entries as JSON lines.
        let database = jsonLines(
            try String(contentsOf: learned, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#") }.joined(separator: "\n"))
        XCTAssertFalse(database.isEmpty)
        XCTAssertTrue(database.dropFirst().allSatisfy { ($0["id"] as? String)?.hasPrefix("learned-") == true })
        // A SYN's id names its connection: the capture recorded twice, or the file given twice,
        // count each SYN once (every key, with --min-count 1).
        let connections = Set(entries.compactMap { $0["id"] as? String }).count
        XCTAssertEqual(connections, entries.count)
        XCTAssertTrue(
            build.stderr.contains("\(2 * entries.count - connections) observations read before (the same id) counted once"), build.stderr)
        XCTAssertEqual(
            database.dropFirst().compactMap { ($0["counts"] as? [String: Int])?.values.reduce(0, +) }.reduce(0, +), connections)
        let twice = try runSynprint(["db", "build", "--learned", observations.path, "--learned", observations.path, "-o", learned.path])
        XCTAssertEqual(twice.status, 0, twice.stderr)
        XCTAssertTrue(twice.stderr.contains("\(4 * entries.count - connections) observations read before"), twice.stderr)
    }

    // MARK: helpers

    func lineCount(_ url: URL) -> Int {
        ((try? String(contentsOf: url, encoding: .utf8)) ?? "").split(separator: "\n").count
    }
}

struct CommandRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// The executable the end-to-end tests run: `$SYNPRINT_BINARY` (CI points it at the release
/// build), else the one built beside the test bundle.
var synprintExecutable: URL {
    if let binary = ProcessInfo.processInfo.environment["SYNPRINT_BINARY"] { return URL(fileURLWithPath: binary) }
    return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("synprint")
}

func startSynprint(_ arguments: [String], stdout: Any? = nil, stderr: Any? = nil) throws -> Process {
    let process = Process()
    process.executableURL = synprintExecutable
    process.arguments = arguments
    if let stdout { process.standardOutput = stdout }
    process.standardError = stderr ?? FileHandle.nullDevice
    try process.run()
    return process
}

func runSynprint(_ arguments: [String]) throws -> CommandRun {
    let process = Process()
    process.executableURL = synprintExecutable
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read before waiting: a full pipe would block the child.
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandRun(
        status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
        stderr: String(decoding: stderr, as: UTF8.self))
}

/// The JSON objects of `text`, one per line; a line that is not one fails the calling test.
func jsonLines(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> [[String: Any]] {
    text.split(separator: "\n").compactMap {
        guard let object = try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] else {
            XCTFail("not a JSON object: \($0.prefix(200))", file: file, line: line)
            return nil
        }
        return object
    }
}

func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("synprint-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A file system of `bytes` (tmpfs, mounted on a new folder), to fill up; unmounted when the
/// test ends.
func smallFileSystem(bytes: Int, for test: XCTestCase) throws -> URL {
    let folder = try temporaryFolder()
    let mounting = Process()
    mounting.executableURL = URL(fileURLWithPath: "/bin/mount")
    mounting.arguments = ["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", folder.path]
    try mounting.run()
    mounting.waitUntilExit()
    guard mounting.terminationStatus == 0 else { throw Failed(description: "mount -t tmpfs failed (the tests run as root)") }
    test.addTeardownBlock { _ = umount2(folder.path, Int32(MNT_DETACH)) }
    return folder
}

/// Writes zeros to `file` until it holds `bytes`, or until its disk is full when nil.
func fill(_ file: URL, bytes: Int? = nil) {
    let fd = open(file.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    defer { close(fd) }
    let zeros = [UInt8](repeating: 0, count: 4096)
    var written = 0
    while fd >= 0, written < bytes ?? Int.max {
        let n = zeros.withUnsafeBytes { write(fd, $0.baseAddress!, min(4096, (bytes ?? Int.max) - written)) }
        guard n > 0 else { return }
        written += n
    }
}

/// Polls `condition` for up to `seconds`.
func waitFor(seconds: Double = 10, _ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        guard Date() < deadline else { throw Timeout() }
        usleep(20_000)
    }
}

struct Timeout: Error {}
