import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The README's common commands, run as written against the shipped samples: the capture file
/// is a sample, eth0 the loopback interface (captured for a second and stopped as a service is),
/// the store a ClickHouse server started for the test, output files in a temporary folder.
final class DocsExamplesTests: XCTestCase {
    /// What a command line of the README stands for here; the rest is run as written.
    static let stand = [
        ("capture.pcap", "tools/samples/verdicts.pcap"), ("labelled.pcap", "tools/samples/verdicts.pcap"), (" eth0 ", " lo "),
    ]
    /// Lines that need `tools/install.sh` first (the synprint user, /etc/synprint, /run/synprint):
    /// `DeployTests` and `tools/make-deb.sh --test` run the installed service instead.
    static let afterInstall = ["-u synprint", "/etc/synprint/"]

    func testReadmeCommandsRunAsWritten() throws {
        guard geteuid() == 0 else { throw XCTSkip("the live examples need the tests to run as root") }
        let readme = try String(contentsOf: repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try XCTUnwrap(readme.range(of: "## Common commands\n"))
        let block = try XCTUnwrap(readme[section.upperBound...].components(separatedBy: "```sh\n").dropFirst().first)
        let lines = block.components(separatedBy: "```")[0].split(separator: "\n").map { line in
            String(line.split(separator: "#", maxSplits: 1)[0]).trimmingCharacters(in: .whitespaces)
        }
        XCTAssertGreaterThan(lines.count, 15)
        let folder = try temporaryFolder()
        let store = try ClickHouseServer.started()
        defer { store.stop() }
        try "example-key\n".write(to: folder.appendingPathComponent("key"), atomically: true, encoding: .utf8)
        chmod(folder.appendingPathComponent("key").path, 0o600)
        var ran = 0
        for written in lines where !written.isEmpty {
            guard !DocsExamplesTests.afterInstall.contains(where: written.contains) else { continue }
            var line = written.replacingOccurrences(of: "http://127.0.0.1:8123/synprint", with: store.url)
            for (word, meaning) in DocsExamplesTests.stand {
                line = line.replacingOccurrences(of: word, with: meaning.hasPrefix(" ") ? meaning : repositoryRoot.path + "/" + meaning)
            }
            XCTAssertTrue(line.hasPrefix("synprint "), written)
            line = synprintExecutable.path + line.dropFirst("synprint".count)
            let live = line.contains(" -i lo ")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "exec " + line]
            process.currentDirectoryURL = folder
            let errors = folder.appendingPathComponent("stderr")
            _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = try FileHandle(forWritingTo: errors)
            // Relative paths into the repository are the README's (run from its root).
            if written.contains("database/") {
                process.currentDirectoryURL = repositoryRoot
            }
            try process.run()
            if live {
                Thread.sleep(forTimeInterval: 1.5)
                process.terminate()
            }
            process.waitUntilExit()
            let said = try String(contentsOf: errors, encoding: .utf8)
            XCTAssertEqual(process.terminationStatus, 0, "\(written): \(said)")
            ran += 1
        }
        XCTAssertEqual(ran, lines.filter { !$0.isEmpty }.count - 4, "every line but the four that need tools/install.sh")
    }
}
