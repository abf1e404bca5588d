import ArgumentParser
import Foundation
import Match

struct DatabaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Check, convert and inspect fingerprint databases.",
        subcommands: [Validate.self, ImportP0f.self])

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load database files and report the first error with file, line and field.")

        @Argument(help: ArgumentHelp("Database files (JSON lines, schema in database/README.md).", valueName: "file"))
        var files: [String]

        func run() throws {
            for file in files {
                do {
                    let database = try Database.load(file: file)
                    var perClass: [OSClass: Int] = [:]
                    for entry in database.entries { perClass[entry.osClass, default: 0] += 1 }
                    let summary = OSClass.labels.compactMap { c in perClass[c].map { "\(c.name) \($0)" } }.joined(separator: ", ")
                    print("\(file): \(database.entries.count) entries and \(database.links.count) link entries, valid (\(summary))")
                } catch let error as DatabaseError {
                    throw Failure(error.description)
                }
            }
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
                throw Failure("\(path): cannot read the file")
            }
            do {
                let result = try P0fImport.convert(text, file: path)
                let comment = "Converted from \(URL(fileURLWithPath: path).lastPathComponent) by synprint db import-p0f."
                try result.database.serialized(comment: comment).write(toFile: output, atomically: true, encoding: .utf8)
                print("\(output): \(result.database.entries.count) entries and \(result.database.links.count) link entries written (\(result.skippedLines) other lines skipped)")
            } catch let error as DatabaseError {
                throw Failure(error.description)
            }
        }
    }
}
