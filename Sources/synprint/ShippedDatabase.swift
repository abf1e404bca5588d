import Foundation
import SynprintKit

/// Finds the database that ships with synprint: `$SYNPRINT_DB`, else `database/` beside the
/// executable or in one of its parent folders (a source checkout), else `share/synprint` of the
/// prefix the executable is installed in, else the usual prefixes.
enum ShippedDatabase {
    static func path() throws -> String {
        if let fromEnvironment = ProcessInfo.processInfo.environment["SYNPRINT_DB"] { return fromEnvironment }
        let executable = (Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])).resolvingSymlinksInPath()
        var folder = executable.deletingLastPathComponent()
        for _ in 0..<6 {
            let candidate = folder.appendingPathComponent("database").appendingPathComponent(Settings.databaseFileName).path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            folder = folder.deletingLastPathComponent()
        }
        let installed = executable.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("share/synprint").path
        for prefix in [installed] + Settings.databaseFolders {
            let candidate = "\(prefix)/\(Settings.databaseFileName)"
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        throw Failure("cannot find the shipped database \(Settings.databaseFileName); pass --db FILE or set SYNPRINT_DB")
    }
}
