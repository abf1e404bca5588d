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
        let text = try read(path)
        // The parser recurses once per level: a few kilobytes of brackets overflow its stack.
        let depth = nesting(of: text)
        guard depth <= maximumDepth else {
            throw Failure(
                "\(path): nested \(depth) levels deep; a configuration needs 2 (at most \(maximumDepth) are read)", status: .usage)
        }
        // Composed, not loaded: YAML's aliases can make a file of a few hundred bytes a tree of
        // billions of nodes, which only building its values would expand. Values are scalars or
        // lists of scalars, so nothing deeper is ever built.
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw Failure("\(path): not YAML: \(error)", status: .usage)
        }
        guard let mapping = root?.mapping else {
            throw Failure("\(path): expected a mapping of option: value", status: .usage)
        }
        var values: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { throw Failure("\(path): expected a mapping of option: value", status: .usage) }
            values[name] = value
        }
        var options: [String] = []
        var filter: [String] = []
        for key in values.keys.sorted() {
            let spellings = shortForms[key].map { [$0, "--\(key)"] } ?? ["--\(key)"]
            let flag = spellings[0]
            // The command line wins: its own use of an option replaces the file's.
            if spellings.contains(where: rest.contains) { continue }
            let before = options.count
            func scalar(_ node: Node) throws -> Any {
                guard node.scalar != nil else {
                    throw Failure("\(path): '\(key)' takes a value or a list of values, not a list or mapping in it", status: .usage)
                }
                return node.any
            }
            let node = values[key]!
            if let list = node.sequence {
                let items = try list.map { "\(try scalar($0))" }
                if key == "filter" { filter = items } else { for item in items { options += [flag, item] } }
            } else {
                switch try scalar(node) {
                case let text as String where key == "filter":
                    filter = text.split(separator: " ").map(String.init)
                case let enabled as Bool:
                    if enabled { options.append(flag) }
                case is NSNull:
                    continue
                case let value:
                    options += [flag, "\(value)"]
                }
            }
            try check(Array(options[before...]), key: key, in: text, path: path)
        }
        self.filter = filter
        return options + rest
    }

    /// An option of the file that the command line would refuse, refused with the file's name
    /// and the key's line.
    static func check(_ option: [String], key: String, in text: String, path: String) throws {
        guard !option.isEmpty else { return }
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("\(key):") }.map { $0 + 1 }
        let parsed: ParsableCommand
        do {
            parsed = try Synprint.parseAsRoot(option)
        } catch {
            throw Failure("\(path):\(line.map(String.init) ?? "?"): \(Synprint.message(for: error))", status: .usage)
        }
        // A switch given a value: the command line would read the value as filter words.
        if key != "filter", let run = parsed as? Synprint, !run.filter.isEmpty {
            throw Failure("\(path):\(line.map(String.init) ?? "?"): \(key) takes true or false", status: .usage)
        }
    }

    /// The largest file and the deepest nesting read: a configuration is a mapping of scalars
    /// and lists, a few kilobytes.
    static let maximumBytes = 1 << 20
    static let maximumDepth = 64

    /// The file's text, read whole (a pipe or FIFO too, as `--config <(...)` gives).
    static func read(_ path: String) throws -> String {
        func failure(_ reason: String) -> Failure { Failure("\(path): cannot read the configuration file: \(reason)", status: .input) }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure(String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw failure(String(cString: strerror(errno))) }
        guard status.st_mode & S_IFMT != S_IFDIR else { throw failure("a directory") }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw failure(String(cString: strerror(errno))) }
            if count == 0 { break }
            bytes += chunk[..<count]
            guard bytes.count <= maximumBytes else { throw failure("larger than \(maximumBytes >> 20) MiB") }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw failure("not UTF-8 text") }
        return text
    }

    /// How deep the text nests, counted before parsing and on the safe side: block levels by
    /// indentation, a `- ` per compact sequence level, and open brackets outside quotes and
    /// comments.
    static func nesting(of text: String) -> Int {
        var deepest = 0, brackets = 0
        var indents: [Int] = []
        for line in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            var i = line.startIndex
            while i < line.endIndex && line[i] == UInt8(ascii: " ") { i = line.index(after: i) }
            guard i < line.endIndex, line[i] != UInt8(ascii: "#"), line[i] != UInt8(ascii: "\r") else { continue }
            let indent = line.distance(from: line.startIndex, to: i)
            while let last = indents.last, last > indent { indents.removeLast() }
            if indents.last.map({ $0 < indent }) ?? true { indents.append(indent) }
            var level = indents.count + brackets
            var quote: UInt8?
            var previous = UInt8(ascii: " ")
            while i < line.endIndex {
                let byte = line[i]
                if let open = quote {
                    if byte == open { quote = nil }
                } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                    quote = byte
                } else if byte == UInt8(ascii: "#") && (previous == UInt8(ascii: " ") || previous == UInt8(ascii: "\t")) {
                    break
                } else if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") {
                    brackets += 1
                    level += 1
                } else if byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") {
                    brackets = max(brackets - 1, 0)
                } else if byte == UInt8(ascii: "-") && (previous == UInt8(ascii: " ") || previous == UInt8(ascii: "-")) {
                    level += 1
                }
                deepest = max(deepest, level)
                previous = byte
                i = line.index(after: i)
            }
        }
        return deepest
    }

    /// Keys for the options spelt with one letter, as tcpdump's are (`user` also has `--user`).
    static let shortForms = ["read": "-r", "interface": "-i", "count": "-c", "promiscuous": "-p", "output": "-o", "user": "-u"]
}
