import ArgumentParser
import Foundation
import Learn
import Match
import SynprintKit

struct DatabaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        _superCommandName: "synprint",
        abstract: "Check, convert, build, merge and inspect fingerprint databases.",
        subcommands: [Validate.self, ImportP0f.self, Build.self, Merge.self, Stats.self, Diff.self])

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge databases: entries that match the same packets become one and their counts add up.")

        @Argument(help: ArgumentHelp("Database files, in order of priority for ids and links.", valueName: "file"))
        var files: [String]

        @Option(
            help: ArgumentHelp("Whose label wins when a curated and a learned entry match the same packets.", valueName: "curated|learned"))
        var prefer: DatabaseMerge.Preference = .curated

        @Option(name: .customShort("o"), help: ArgumentHelp("Where to write the merged database.", valueName: "file"))
        var output: String

        func run() throws {
            let databases = try files.map { try loadDatabase([$0]) }
            let merged = DatabaseMerge.merge(databases, prefer: prefer)
            try writeDatabase(merged, comment: "Merged by synprint db merge from \(files.count) files.", to: output)
            print(
                "\(output): \(merged.entries.count) entries and \(merged.links.count) link entries from \(databases.map(\.entries.count).reduce(0, +)) entries"
            )
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Entries and observations per class, conflicting keys and coverage of a database.")

        @Argument(help: ArgumentHelp("A database file.", valueName: "file"))
        var file: String

        func run() throws {
            print(DatabaseStatistics.report(try loadDatabase([file])))
        }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What changes between two databases (+ added, - removed, ~ relabelled or recounted), for review before deploying.")

        @Argument(help: ArgumentHelp("The database in use.", valueName: "old"))
        var old: String

        @Argument(help: ArgumentHelp("The candidate.", valueName: "new"))
        var new: String

        func run() throws {
            let lines = DatabaseDiff.lines(try loadDatabase([old]), try loadDatabase([new]))
            for line in lines { print(line) }
            if lines.isEmpty { print("no differences") }
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load database files and report the first error with file, line and field.")

        @Argument(
            help: ArgumentHelp(
                "Database files (JSON lines, schema in database/README.md): OS databases, or the TLS stacks (tls.jsonl).",
                valueName: "file"))
        var files: [String]

        func run() throws {
            for file in files {
                do {
                    if try Validate.isTLSStacks(file) {
                        let stacks = try TLSStacks.load(file: file)
                        let families = TLSFamily.allCases.compactMap { family in
                            let n = stacks.stacks.filter { $0.family == family }.count
                            return n > 0 ? "\(family.rawValue) \(n)" : nil
                        }
                        print("\(file): \(stacks.stacks.count) TLS stacks, valid (\(families.joined(separator: ", ")))")
                        continue
                    }
                    let database = try Database.load(file: file)
                    var perClass: [OSClass: Int] = [:]
                    for entry in database.entries { perClass[entry.osClass, default: 0] += 1 }
                    let summary = OSClass.labels.compactMap { c in perClass[c].map { "\(c.name) \($0)" } }.joined(separator: ", ")
                    print("\(file): \(database.entries.count) entries and \(database.links.count) link entries, valid (\(summary))")
                } catch let error as DatabaseError {
                    throw Failure(error.description, status: .input)
                }
            }
        }

        /// The file's first object is the TLS stacks' header.
        static func isTLSStacks(_ file: String) throws -> Bool {
            guard let handle = FileHandle(forReadingAtPath: file) else { return false }
            defer { try? handle.close() }
            let start = String(decoding: handle.readData(ofLength: 4096), as: UTF8.self)
            let first = start.split(separator: "\n").first { !$0.hasPrefix("#") && !$0.allSatisfy(\.isWhitespace) }
            return first?.contains("\"synprint_tls\"") ?? false
        }
    }

    struct ImportP0f: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-p0f",
            abstract: "Convert a p0f v3 signature file (e.g. /etc/p0f/p0f.fp) into synprint's schema.")

        @Argument(help: ArgumentHelp("The p0f.fp file.", valueName: "path"))
        var path: String

        @Option(name: .customShort("o"), help: ArgumentHelp("Where to write the converted database.", valueName: "file"))
        var output: String

        func run() throws {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw Failure("\(path): cannot read the file", status: .input)
            }
            do {
                let result = try P0fImport.convert(text, file: path)
                guard !result.database.entries.isEmpty || !result.database.links.isEmpty else {
                    throw Failure(
                        "\(path): no p0f signatures found (no [tcp:request], [tcp:response] or [mtu] section); \(output) was not written",
                        status: .input)
                }
                let comment = "Converted from \(URL(fileURLWithPath: path).lastPathComponent) by synprint db import-p0f."
                try writeDatabase(result.database, comment: comment, to: output)
                print(
                    "\(output): \(result.database.entries.count) entries and \(result.database.links.count) link entries written (\(result.skippedLines) other lines skipped)"
                )
            } catch let error as DatabaseError {
                throw Failure(error.description, status: .input)
            }
        }
    }
}

extension DatabaseMerge.Preference: ExpressibleByArgument {}

/// Writes a database whole or not at all (a failed or interrupted run leaves the old file).
func writeDatabase(_ database: Database, comment: String, to path: String) throws {
    do {
        try AtomicFile.write(database.serialized(comment: comment), to: path)
    } catch let error as OutputError {
        throw Failure(error.description, status: .output)
    }
}
