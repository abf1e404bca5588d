import Connections
import Foundation
import SynprintKit

/// The connection aggregates as one SVG file, drawn by gnuplot: stage shares over time and per
/// client network (the busiest ones). The data goes to gnuplot inline on its standard input;
/// the SVG comes back on its standard output and is written whole or not at all.
enum ConnectionChart {
    static let networksShown = 20
    static let gnuplot = "gnuplot"

    static func write(_ counts: EventSummary.Counts, summary: EventSummary, to path: String) throws {
        let svg = try render(script(counts, summary: summary))
        do {
            try AtomicFile.write(svg, to: path)
        } catch let error as OutputError {
            throw Failure(error.description, status: .output)
        }
    }

    /// The gnuplot program with its data.
    static func script(_ counts: EventSummary.Counts, summary: EventSummary) -> String {
        let stages = ConnectionStage.allCases.map(\.rawValue)
        let timeline = counts.timeline
        let networks = summary.busiestNetworks(counts, top: networksShown)
        var lines = [
            "set terminal svg size 1100,960 dynamic noenhanced font 'sans,11' background rgb 'white'",
            "set encoding utf8",
            "set datafile separator tab",
            "set multiplot layout 2,1 title '\(counts.connections) connections by the stage at which they ended' font ',14'",
            "set style data histograms", "set style histogram rowstacked", "set style fill solid 0.85 border rgb 'white'",
            "set boxwidth 0.9", "set key outside right top title 'stage'", "set yrange [0:100]",
            "set ylabel 'share of connections (%)'", "set grid ytics", "set xtics rotate by 45 right scale 0 font ',9' nomirror",
            "set bmargin 7",
        ]
        func block(_ name: String, _ rows: [(label: String, counts: [Int])]) {
            lines.append("$\(name) << EOD")
            for row in rows {
                let total = max(row.counts.reduce(0, +), 1)
                lines.append(
                    ([row.label] + row.counts.map { String(format: "%.2f", Double($0) * 100 / Double(total)) }).joined(separator: "\t"))
            }
            lines.append("EOD")
        }
        func plot(_ name: String, labelEvery step: Int) -> String {
            "plot "
                + stages.enumerated().map { i, stage in
                    let label = i == 0 ? ":xtic(int($0) % \(step) == 0 ? stringcolumn(1) : '')" : ""
                    return "$\(name) using \(i + 2)\(label) title '\(stage)'"
                }.joined(separator: ", ")
        }
        let clock = DateFormatter()
        clock.locale = Locale(identifier: "en_US_POSIX")
        clock.timeZone = TimeZone(identifier: "UTC")
        let span = timeline.width * Int64(timeline.bucketCount)
        clock.dateFormat = timeline.width >= 86_400 ? "yyyy-MM-dd" : span > 86_400 ? "MM-dd HH:mm" : "HH:mm:ss"
        let buckets = (0..<timeline.bucketCount).map { i in
            (
                clock.string(from: Date(timeIntervalSince1970: TimeInterval(timeline.start + Int64(i) * timeline.width))),
                Array(timeline.bucket(i))
            )
        }
        block("time", buckets)
        block("networks", networks.map { ($0.name, $0.stages) })
        lines.append("set title 'over time (UTC, buckets of \(timeline.width) s)'")
        lines.append(plot("time", labelEvery: max(1, buckets.count / 24)))
        lines.append("set title 'per client network (the \(networks.count) with the most connections)'")
        lines.append(plot("networks", labelEvery: 1))
        lines.append("unset multiplot")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Runs gnuplot on the script and returns the SVG it printed.
    static func render(_ script: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [gnuplot]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw Failure("cannot start gnuplot to draw the chart (Debian: apt install gnuplot-nox): \(error)")
        }
        // gnuplot reads all of its input before it writes the SVG: no deadlock on the pipes.
        input.fileHandleForWriting.write(Data(script.utf8))
        try? input.fileHandleForWriting.close()
        let svg = output.fileHandleForReading.readDataToEndOfFile()
        let messages = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, svg.count > 0 else {
            if process.terminationStatus == 127 {
                throw Failure("gnuplot draws the chart and is not installed (Debian: apt install gnuplot-nox)")
            }
            let said = String(decoding: messages, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw Failure("gnuplot failed (exit \(process.terminationStatus)): \(said.suffix(400))")
        }
        return String(decoding: svg, as: UTF8.self)
    }
}
