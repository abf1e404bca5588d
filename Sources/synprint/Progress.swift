import Capture
import Foundation
import SynprintKit

#if canImport(Glibc)
import Glibc
#endif

/// A progress line on a terminal: share of the input read, rate and time left.
struct Progress {
    let enabled = isatty(STDERR_FILENO) == 1
    let total: Int
    var done = 0  // bytes of the files already finished
    var current = 0  // size of the file being read
    var filesOpened = 0
    var packets = 0
    var started = Progress.now()
    var lastPrint = 0.0

    init(files: [String]) {
        total = files.reduce(0) { sum, path in
            var status = stat()
            return sum + (stat(path, &status) == 0 ? Int(status.st_size) : 0)
        }
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    mutating func opened(_ source: PacketSource) {
        filesOpened += 1
        done += current
        var status = stat()
        current = stat(source.name, &status) == 0 ? Int(status.st_size) : 0
    }

    mutating func tick(_ source: PacketSource) {
        packets += 1
        guard enabled, packets & 0xFFFF == 0 else { return }
        let now = Progress.now()
        guard now - lastPrint >= 0.5 else { return }
        lastPrint = now
        let read = done + (source.fileOffset ?? 0)
        let elapsed = now - started
        let share = total > 0 ? Double(read) / Double(total) : 0
        let left = share > 0 ? elapsed * (1 - share) / share : 0
        let line = String(
            format: "\r%5.1f %%  %.1f M packets  %.0f k packets/s  %.0f s left ", share * 100,
            Double(packets) / 1e6, Double(packets) / elapsed / 1e3, left)
        printError(line, terminator: "")
    }

    func finish() {
        if enabled && lastPrint > 0 { printError("") }
    }
}
