import ArgumentParser
import Foundation
import Yams

/// `--config FILE`: the long options as a YAML mapping (deploy/synprint.yaml), so a service
/// needs no long command line. Each key is an option's long name (`read`, `interface`, `count`,
/// `promiscuous` and `output` for -r, -i, -c, -p and -o); a value is a string or number,
/// `true` for a flag, or a list for an option that repeats; `filter` holds the BPF filter words.
/// The file's options come before the command line's, so the command line overrides them.
enum ConfigurationFile {
    /// The file's `filter` words, used when the command line gives none (option values and
    /// filter words cannot be told apart before parsing, so the command decides after it).
    nonisolated(unsafe) static var filter: [String] = []

    /// The arguments with the file's options put first; unchanged without `--config`.
    static func arguments(before commandLine: [String]) throws -> [String] {
        guard let position = commandLine.firstIndex(of: "--config") else { return commandLine }
        guard position + 1 < commandLine.count else { throw ValidationError("--config needs a file") }
        let path = commandLine[position + 1]
        var rest = commandLine
        rest.removeSubrange(position...position + 1)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("\(path): cannot read the configuration file")
        }
        let loaded: Any?
        do {
            loaded = try Yams.load(yaml: text)
        } catch {
            throw ValidationError("\(path): not YAML: \(error)")
        }
        guard let mapping = loaded as? [String: Any] else { throw ValidationError("\(path): expected a mapping of option: value") }
        var options: [String] = []
        var filter: [String] = []
        for key in mapping.keys.sorted() {
            let spellings = shortForms[key].map { [$0, "--\(key)"] } ?? ["--\(key)"]
            let flag = spellings[0]
            // The command line wins: its own use of an option replaces the file's.
            if spellings.contains(where: rest.contains) { continue }
            switch mapping[key] {
            case let words as [Any] where key == "filter":
                filter = words.map { "\($0)" }
            case let text as String where key == "filter":
                filter = text.split(separator: " ").map(String.init)
            case let enabled as Bool:
                if enabled { options.append(flag) }
            case let list as [Any]:
                for item in list { options += [flag, "\(item)"] }
            case let value?:
                options += [flag, "\(value)"]
            case nil:
                continue
            }
        }
        self.filter = filter
        return options + rest
    }

    /// Keys for the options spelt with one letter, as tcpdump's are (`user` also has `--user`).
    static let shortForms = ["read": "-r", "interface": "-i", "count": "-c", "promiscuous": "-p", "output": "-o", "user": "-u"]
}
