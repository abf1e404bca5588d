import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Every command of README.md and docs/*.md is run as written, in the order a reader meets it,
/// unless a table below says why not. Capture files are the shipped samples, eth0 the loopback
/// interface (captured for a moment and stopped as a service is), the fleet store a ClickHouse
/// server started for the test, and each document's files land in a temporary folder of its own
/// that mirrors the repository's `tools/` and `database/`.
///
/// Commands are the lines of ```sh, ```bash and unlabelled fenced blocks; as unlabelled blocks
/// also hold synopses and output, only their lines that begin as a command do count.
final class DocsExamplesTests: XCTestCase {
    struct Counts: Equatable {
        var asWritten = 0
        var helpOnly = 0
        var skipped = 0
    }

    /// How many command lines each document holds, by how they are treated, so that a command
    /// added to one cannot go unrun unnoticed.
    static let expected: [String: Counts] = [
        "README.md": Counts(asWritten: 14, skipped: 9),
        "docs/ACCURACY.md": Counts(helpOnly: 8, skipped: 2),
        "docs/API.md": Counts(skipped: 2),
        "docs/ARCHITECTURE.md": Counts(),
        "docs/CONNECTIONS.md": Counts(asWritten: 3),
        "docs/FLEET.md": Counts(asWritten: 3),
        "docs/FLOWSTATS.md": Counts(asWritten: 2),
        "docs/LEARNING.md": Counts(asWritten: 5, skipped: 2),
        "docs/MATCHING.md": Counts(asWritten: 1),
        "docs/OPERATIONS.md": Counts(skipped: 6),
        "docs/OUTPUT.md": Counts(asWritten: 1),
        "docs/PERFORMANCE.md": Counts(skipped: 7),
        "docs/STACKS.md": Counts(),
        "docs/TLS-CLIENTS.md": Counts(helpOnly: 1),
        "docs/USAGE.md": Counts(asWritten: 4, skipped: 6),
        "docs/VERDICTS.md": Counts(asWritten: 3),
        "docs/WORKERS.md": Counts(asWritten: 2),
    ]

    /// Lines that cannot run here, and why; the first pattern a line contains decides.
    static let skipped: [(pattern: String, reason: String)] = [
        ("-u synprint", "needs tools/install.sh first: the synprint user (and /run/synprint, from the service unit)"),
        ("/etc/synprint/", "needs tools/install.sh first: the configuration it installs"),
        ("tools/setup.sh", "installs the system's build and test packages"),
        ("tools/install.sh", "a release build, then installs into the system"),
        ("tools/make-deb.sh", "a release build with Swift's runtime linked in; --test installs the package into the system"),
        ("systemctl", "starts the installed service"),
        ("swift build -c release", "a release build takes minutes; this test runs the binary under test"),
        ("swift test", "runs the test suite this test belongs to"),
        ("tools/bench", "a benchmark: a release build, then minutes of measuring"),
        ("tools/live-rate.sh", "a release build, then replays 300,000 SYNs per rate and mode with tcpreplay"),
        ("tools/floods.sh", "a release build, then floods of millions of packets"),
        (" [", "a synopsis: brackets mark what is optional, capitals what stands for a value"),
        ("validate|import-p0f|", "a synopsis of the db commands"),
        ("synprint db build: ", "output of db build, not a command"),
    ]

    /// Tools whose documented runs need what a test has not: they are run with `--help`, which
    /// shows that they start and read their arguments.
    static let helpOnly: [(pattern: String, reason: String)] = [
        ("tools/fetch-captures.py", "fetches the development captures over the network, or checks a copy of them"),
        ("tools/accuracy.py", "needs the development data and a release build"),
        ("tools/loco.py", "needs the development data"),
        ("tools/netns-capture.py", "sends real traffic between network namespaces for minutes"),
        ("tools/netns-tls.py", "needs a dozen TLS clients' packages, and rewrites a fixture and docs/TLS-CLIENTS.md"),
    ]

    /// What a word of a command stands for here; the store's URL is added when its server runs.
    static let standIns = [
        "capture.pcap": "tools/samples/verdicts.pcap", "labelled.pcap": "tools/samples/verdicts.pcap",
        "monday.pcap": "tools/samples/verdicts.pcap", "tuesday.pcap": "tools/samples/mixed-os.pcap",
        "day1.pcap": "tools/samples/verdicts.pcap", "day2.pcap": "tools/samples/mixed-os.pcap",
        "big.pcap": "tools/samples/mixed-os.pcap", "eth0": "lo",
        // The test runs as root.
        "sudo": "",
    ]

    /// The fleet store the documents name; the test's own server stands in for it.
    static let documentedStoreURL = "http://127.0.0.1:8123/synprint"

    /// A command line of a document: continuation lines joined, the comment and a `$ ` prompt dropped.
    struct DocumentedCommand {
        let document: String
        let line: Int
        let text: String

        enum Treatment: Equatable {
            case asWritten
            case helpOnly
            case skipped
        }

        /// How the test treats it, and the pattern of the table that says so (none: run as written).
        var treatment: (kind: Treatment, pattern: String?) {
            if let entry = DocsExamplesTests.skipped.first(where: { text.contains($0.pattern) }) {
                return (.skipped, entry.pattern)
            }
            if let entry = DocsExamplesTests.helpOnly.first(where: { text.contains($0.pattern) }) {
                return (.helpOnly, entry.pattern)
            }
            return (.asWritten, nil)
        }
    }

    /// The command lines of a document's fenced shell and unlabelled blocks, in order.
    static func commands(of document: String) throws -> [DocumentedCommand] {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent(document), encoding: .utf8)
        var commands: [DocumentedCommand] = []
        var blockLanguage: String?
        var continued: (line: Int, text: String)?
        for (index, rawLine) in text.components(separatedBy: "\n").enumerated() {
            let trimmed = rawLine.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("```") {
                blockLanguage = blockLanguage == nil ? String(trimmed.dropFirst(3)) : nil
                continue
            }
            guard let language = blockLanguage, ["sh", "bash", ""].contains(language) else { continue }
            var line = withoutComment(trimmed).trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("$ ") { line.removeFirst(2) }
            let isCommand = continued != nil || (language == "" ? commandStarts.contains { line.hasPrefix($0) } : !line.isEmpty)
            guard isCommand else { continue }
            let joined = (continued.map { $0.text + " " } ?? "") + line
            if joined.hasSuffix("\\") {
                continued = (continued?.line ?? index + 1, String(joined.dropLast()).trimmingCharacters(in: .whitespaces))
            } else {
                commands.append(DocumentedCommand(document: document, line: continued?.line ?? index + 1, text: joined))
                continued = nil
            }
        }
        return commands
    }

    /// How a command begins in an unlabelled block, where the other lines are synopses and output.
    static let commandStarts = ["synprint ", "sudo ", "python3 tools/", "tools/"]

    /// The line up to a `#` that begins a word.
    static func withoutComment(_ line: String) -> String {
        var previous: Character = " "
        for index in line.indices {
            if line[index] == "#" && previous.isWhitespace { return String(line[..<index]) }
            previous = line[index]
        }
        return line
    }

    func testEveryDocumentedCommandIsRunOrListed() throws {
        let documents = try FileManager.default.contentsOfDirectory(atPath: repositoryRoot.appendingPathComponent("docs").path)
            .filter { $0.hasSuffix(".md") }.map { "docs/" + $0 }
        XCTAssertEqual(Set(documents + ["README.md"]), Set(DocsExamplesTests.expected.keys), "a document to add to the table, or one gone")
        var patternsUsed = Set<String>()
        for (document, expected) in DocsExamplesTests.expected {
            var counts = Counts()
            for command in try DocsExamplesTests.commands(of: document) {
                let (kind, pattern) = command.treatment
                if let pattern { patternsUsed.insert(pattern) }
                switch kind {
                case .asWritten: counts.asWritten += 1
                case .helpOnly: counts.helpOnly += 1
                case .skipped: counts.skipped += 1
                }
            }
            XCTAssertEqual(counts, expected, document)
        }
        let patterns = (DocsExamplesTests.skipped + DocsExamplesTests.helpOnly).map(\.pattern)
        XCTAssertEqual(Set(patterns), patternsUsed, "every pattern of the tables stands for a documented line")
    }

    func testDocumentedCommandsRunAsWritten() throws {
        let binary = synprintExecutable.path
        guard FileManager.default.isExecutableFile(atPath: binary) else { return XCTFail("no synprint at \(binary)") }
        let commands = try DocsExamplesTests.expected.keys.sorted().flatMap(DocsExamplesTests.commands(of:))
        guard geteuid() == 0 else { throw XCTSkip("the live examples need the tests to run as root") }
        let store = try ClickHouseServer.started()
        defer { store.stop() }
        var standIns = DocsExamplesTests.standIns
        standIns[DocsExamplesTests.documentedStoreURL] = store.url
        // The file a sensor's --learn writes (LEARNING.md's `db build --learned`), from a sample.
        let observations = try temporaryFolder().appendingPathComponent("observations.jsonl")
        let learning = try runSynprint([
            "-r", repositoryRoot.path + "/tools/samples/verdicts.pcap", "--learn", observations.path, "-o", "/dev/null",
        ])
        XCTAssertEqual(learning.status, 0, learning.stderr)
        var folders: [String: URL] = [:]
        for command in commands where command.treatment.kind != .skipped {
            let folder = try folders[command.document] ?? readersFolder(with: observations)
            folders[command.document] = folder
            var words = command.text.split(separator: " ").map { standIns[String($0)] ?? String($0) }.filter { !$0.isEmpty }
            if command.treatment.kind == .helpOnly, let script = words.firstIndex(where: { $0.hasPrefix("tools/") }) {
                words = Array(words[...script]) + ["--help"]
            }
            if words.first == "synprint" { words[0] = binary }
            try run(words.joined(separator: " "), live: words.contains("-i"), in: folder, as: command)
        }
    }

    /// A temporary folder for one document's commands, which name `tools/` and `database/` from
    /// the repository's root and write their files beside them.
    func readersFolder(with observations: URL) throws -> URL {
        let folder = try temporaryFolder()
        for name in ["tools", "database"] {
            try FileManager.default.createSymbolicLink(
                at: folder.appendingPathComponent(name), withDestinationURL: repositoryRoot.appendingPathComponent(name))
        }
        try FileManager.default.copyItem(at: observations, to: folder.appendingPathComponent(observations.lastPathComponent))
        return folder
    }

    /// Runs `line` in a shell and expects it to end well; a live capture is stopped after 1.5 s.
    func run(_ line: String, live: Bool, in folder: URL, as command: DocumentedCommand) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec " + line]
        process.currentDirectoryURL = folder
        let errors = folder.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        if live {
            Thread.sleep(forTimeInterval: 1.5)
            process.terminate()
        }
        let ended = (try? waitFor(seconds: 30) { !process.isRunning }) != nil
        if !ended { process.terminate() }
        process.waitUntilExit()
        let said = try String(contentsOf: errors, encoding: .utf8)
        XCTAssertTrue(ended, "\(command.document):\(command.line): \(command.text): still running after 30 s")
        XCTAssertEqual(process.terminationStatus, 0, "\(command.document):\(command.line): \(command.text): \(said)")
    }
}
