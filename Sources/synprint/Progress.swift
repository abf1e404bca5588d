import Capture
import Foundation
import SynprintKit

#if canImport(Glibc)
import Glibc
#endif

/// A progress line on a terminal for long runs over files: share of the input read, rate and
/// time left, redrawn at most twice a second.
struct Progress {
    let enabled: Bool
    let total: Int
    var done = 0  // bytes of the files already finished
    var current = 0  // size of the file being read
    var filesOpened = 0
    var started = monotonicSeconds()
    var lastPrint = 0.0

    init(files: [String], enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.enabled = enabled
        total = files.reduce(0) { sum, path in
            var status = stat()
            return sum + (stat(path, &status) == 0 ? Int(status.st_size) : 0)
        }
    }

    mutating func opened(_ source: PacketSource) {
        filesOpened += 1
        done += current
        var status = stat()
        current = stat(source.name, &status) == 0 ? Int(status.st_size) : 0
    }

    /// Call every few thousand packets.
    mutating func tick(_ source: PacketSource, packets: Int) {
        guard enabled else { return }
        let now = monotonicSeconds()
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
